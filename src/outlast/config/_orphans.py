"""The settings of orphan recovery (``OUTLAST_ORPHAN_*``): work a dead worker held.

On a Redis broker every worker writes a heartbeat every ``orphan_heartbeat_interval``
seconds that lapses ``orphan_heartbeat_ttl`` seconds after the last one, and records the
messages it holds. Once a worker's heartbeat has lapsed, its unacknowledged messages go
back to their queues, once: checked every ``orphan_check_interval`` seconds by beat's
``outlast.recovery.requeue_orphans`` and, unless ``orphan_check_in_workers`` is off, by
every worker on its own heartbeat. ``orphan_recovery`` off leaves kombu's visibility
timeout as the only way back. Read only where workers and beat run.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from outlast.config._loading import SettingsBase, loader

__all__ = ["OrphanSettings", "get_orphan_settings"]


class OrphanSettings(SettingsBase):
    """Worker heartbeats and the orphan check that requeues a dead worker's messages
    (``OUTLAST_ORPHAN_*``); the TTL must be at least twice the heartbeat interval, so one
    late beat is not a death."""

    orphan_recovery: bool = True
    orphan_heartbeat_interval: float = Field(default=2.0, gt=0, le=60)
    orphan_heartbeat_ttl: float = Field(default=6.0, gt=0, le=600)
    orphan_check_interval: float = Field(default=5.0, gt=0, le=600)
    orphan_check_in_workers: bool = True

    @model_validator(mode="after")
    def _ttl_outlasts_beats(self) -> OrphanSettings:
        if self.orphan_heartbeat_ttl < 2 * self.orphan_heartbeat_interval:
            raise ValueError(
                f"orphan_heartbeat_ttl ({self.orphan_heartbeat_ttl} s) must be at least twice "
                f"orphan_heartbeat_interval ({self.orphan_heartbeat_interval} s)"
            )
        return self


_load = loader(OrphanSettings)


def get_orphan_settings() -> OrphanSettings:
    """The process's orphan-recovery settings, read on first use; SettingsError if wrong."""
    return _load()
