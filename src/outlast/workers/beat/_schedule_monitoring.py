"""Beat jobs of one area: statistics, alert evaluation, escalation and the prune.

Intervals come from ``MonitoringSettings`` (``OUTLAST_MONITORING_*``). Each message
expires after its interval: a job that waited that long (workers down) is skipped, as the
next one does the same work on fresher numbers, instead of a backlog running at once.
"""

from __future__ import annotations

from typing import Any

from outlast.config import Settings, get_monitoring_settings

__all__ = ["monitoring_jobs"]


def monitoring_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule``."""
    del settings  # the intervals are the monitoring section's
    section = get_monitoring_settings()
    jobs = {
        "outlast-monitoring-compute-stats": (
            "outlast.monitoring.compute_stats", section.monitoring_stats_interval
        ),
        "outlast-monitoring-evaluate-alerts": (
            "outlast.monitoring.evaluate_alerts", section.monitoring_evaluate_interval
        ),
        "outlast-monitoring-escalate": (
            "outlast.monitoring.escalate", section.monitoring_escalate_interval
        ),
        "outlast-monitoring-prune": ("outlast.monitoring.prune", section.monitoring_prune_interval),
    }  # fmt: skip
    return {
        entry: {"task": task, "schedule": interval, "options": {"expires": interval}}
        for entry, (task, interval) in jobs.items()
    }
