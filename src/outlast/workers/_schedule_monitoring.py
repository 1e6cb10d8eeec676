"""Beat jobs of one area: statistics, alert evaluation, escalation and the prune."""

from __future__ import annotations

from typing import Any

from outlast.config import Settings

__all__ = ["monitoring_jobs"]


def monitoring_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule`` (none yet)."""
    del settings
    return {}
