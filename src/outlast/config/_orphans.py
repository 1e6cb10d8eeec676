"""The settings of orphan recovery (``OUTLAST_ORPHAN_*``): work a dead worker held.

On a Redis broker every worker writes a heartbeat every ``orphan_heartbeat_interval``
seconds that lapses ``orphan_heartbeat_ttl`` seconds after the last one, and records the
messages it holds. Once a worker's heartbeat has lapsed, its unacknowledged messages go
back to their queues, once: checked by every worker after each of its beats (unless
``orphan_check_in_workers`` is off) and every ``orphan_check_interval`` seconds by beat's
``outlast.recovery.requeue_orphans``. ``orphan_recovery`` off leaves kombu's visibility
timeout as the only way back. Read only where workers and beat run.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from outlast.config._loading import SettingsBase, loader
from outlast.config._value_checks import EXPECTED_TYPE

__all__ = ["OrphanSettings", "get_orphan_settings"]


class OrphanSettings(SettingsBase):
    """Worker heartbeats and the orphan check that requeues a dead worker's messages
    (``OUTLAST_ORPHAN_*``); the TTL must be at least twice the heartbeat interval, so one
    late beat is not a death."""

    orphan_recovery: bool = Field(
        default=True,
        description="Record held messages and beat a heartbeat on a Redis broker; off leaves "
        "kombu's visibility timeout as the only way a dead worker's messages come back.",
    )
    orphan_heartbeat_interval: float = Field(
        default=2.0, gt=0, le=60, description="Seconds between a worker's heartbeats."
    )
    orphan_heartbeat_ttl: float = Field(
        default=6.0, gt=0, le=600,
        description="Seconds after its last beat that a worker counts as dead (at least "
        "twice the interval).",
    )  # fmt: skip
    orphan_check_interval: float = Field(
        default=5.0, gt=0, le=600,
        description="Seconds between beat's runs of outlast.recovery.requeue_orphans.",
    )  # fmt: skip
    orphan_check_in_workers: bool = Field(
        default=True,
        description="Every worker also runs the orphan check after each of its beats, so "
        "no recovery worker or beat is needed for it.",
    )

    @field_validator("orphan_heartbeat_ttl")
    @classmethod
    def _ttl_outlasts_beats(cls, ttl: float, info: ValidationInfo) -> float:
        interval = info.data.get("orphan_heartbeat_interval")
        if interval is not None and ttl < 2 * interval:
            expected = (
                f"at least twice OUTLAST_ORPHAN_HEARTBEAT_INTERVAL ({interval} s), so one "
                "late beat is not taken for a dead worker"
            )
            raise PydanticCustomError(EXPECTED_TYPE, "expected {expected}", {"expected": expected})
        return ttl


_load = loader(OrphanSettings)


def get_orphan_settings() -> OrphanSettings:
    """The process's orphan-recovery settings, read on first use; SettingsError if wrong."""
    return _load()
