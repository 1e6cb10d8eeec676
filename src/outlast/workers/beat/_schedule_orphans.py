"""Beat jobs of one area: the orphan check (work a dead worker held, moved back to its queue)."""

from __future__ import annotations

from typing import Any

from outlast.config import Settings
from outlast.config._orphans import get_orphan_settings

__all__ = ["orphan_jobs"]


def orphan_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule``: the orphan check every
    ``orphan_check_interval`` seconds (none when ``orphan_recovery`` is off)."""
    del settings  # the orphan settings are a section of their own
    orphans = get_orphan_settings()
    if not orphans.orphan_recovery:
        return {}
    return {
        "outlast-requeue-orphans": {
            "task": "outlast.recovery.requeue_orphans",
            "schedule": orphans.orphan_check_interval,
        }
    }
