"""The beat schedule: every periodic job Outlast sends, gathered by area.

Each area keeps its jobs in a module of its own (``_schedule_orphans``,
``_schedule_recovery``, ``_schedule_monitoring``), so the intervals of one area are read
and changed in one place. Every interval is a setting.
"""

from __future__ import annotations

from typing import Any

from outlast.config import Settings
from outlast.workers.beat._schedule_monitoring import monitoring_jobs
from outlast.workers.beat._schedule_orphans import orphan_jobs
from outlast.workers.beat._schedule_recovery import recovery_jobs

__all__ = ["beat_schedule"]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for ``settings``: entry name to task and interval."""
    return {
        **_maintenance_jobs(settings),
        **orphan_jobs(settings),
        **recovery_jobs(settings),
        **monitoring_jobs(settings),
    }


def _maintenance_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "outlast-release-due-retries": {
            "task": "outlast.maintenance.release_due_retries",
            "schedule": settings.retry_release_interval,
        },
        "outlast-sweep-ledger": {
            "task": "outlast.maintenance.sweep_ledger",
            "schedule": settings.ledger_sweep_interval,
        },
    }
