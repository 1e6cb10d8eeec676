"""Beat jobs of one area: the health sweep (probe, heal and restart services; repair consumers)."""

from __future__ import annotations

from typing import Any

from outlast.config import Settings

__all__ = ["recovery_jobs"]


def recovery_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule`` (none yet)."""
    del settings
    return {}
