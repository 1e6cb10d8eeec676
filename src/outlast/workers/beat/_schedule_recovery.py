"""Beat jobs of one area: the health sweep (probe, heal and restart services; repair consumers)."""

from __future__ import annotations

from typing import Any

from outlast.config import Settings, get_recovery_settings

__all__ = ["recovery_jobs"]


def recovery_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule``: the health sweep every
    ``OUTLAST_RECOVERY_SWEEP_INTERVAL`` seconds (30 by default); a sweep that waited
    longer than that (workers down) expires, since the next one does the same work."""
    del settings  # the interval is the recovery section's
    interval = get_recovery_settings().recovery_sweep_interval
    return {
        "outlast-recovery-health-sweep": {
            "task": "outlast.recovery.health_sweep",
            "schedule": interval,
            "options": {"expires": interval},
        },
    }
