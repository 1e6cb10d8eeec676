"""Beat jobs of one area: the orphan check (work a dead worker held, moved back to its queue)."""

from __future__ import annotations

from typing import Any

from outlast.config import Settings

__all__ = ["orphan_jobs"]


def orphan_jobs(settings: Settings) -> dict[str, dict[str, Any]]:
    """This area's entries of Celery's ``beat_schedule`` (none yet)."""
    del settings
    return {}
