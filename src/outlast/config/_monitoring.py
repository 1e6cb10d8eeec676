"""The settings of monitoring's beat jobs and slow calls (``OUTLAST_MONITORING_*``), read
apart from :class:`~outlast.config.Settings`: when the worker app builds its beat
schedule, by the prune, and where operations run (the slow-call threshold).

``outlast.monitoring.compute_stats`` runs every ``monitoring_stats_interval`` seconds.
``outlast.monitoring.evaluate_alerts`` runs every ``monitoring_evaluate_interval`` seconds.
``outlast.monitoring.escalate`` runs every ``monitoring_escalate_interval`` seconds.
``outlast.monitoring.prune`` runs every ``monitoring_prune_interval`` seconds (daily).
The prune deletes error events and resolved alerts older than
``monitoring_event_retention`` seconds, and forgets error patterns not seen for as long.
The prune deletes statistics snapshots older than ``monitoring_snapshot_retention``
seconds (other snapshots, such as silences, are kept).
A call through ``@handle_errors`` (an ``@operation`` attempt among them) that succeeds
after at least ``monitoring_slow_call`` seconds counts as a slow call of its service, for
the ``performance_impact`` alert (read where the calls run).
The store never keeps a record longer than its own event retention (7 days,
``open_store(event_retention=...)``), so a longer monitoring retention keeps nothing
longer. What the recording side reads (``monitoring_buffer_size``,
``monitoring_flush_interval``) and the alert rules' ``alert_*`` settings stay in
:class:`~outlast.config.Settings`: every process that records errors reads those.
"""

from __future__ import annotations

from pydantic import Field

from outlast.config._loading import SettingsBase, loader

__all__ = ["MonitoringSettings", "get_monitoring_settings"]

_DAY = 86400.0


class MonitoringSettings(SettingsBase):
    """Intervals of monitoring's beat jobs, the prune's retentions and the slow-call
    threshold, in seconds."""

    monitoring_stats_interval: float = Field(default=60.0, gt=0)
    monitoring_evaluate_interval: float = Field(default=30.0, gt=0)
    monitoring_escalate_interval: float = Field(default=60.0, gt=0)
    monitoring_prune_interval: float = Field(default=_DAY, gt=0)
    monitoring_event_retention: float = Field(default=7 * _DAY, gt=0)
    monitoring_snapshot_retention: float = Field(default=_DAY, gt=0)
    monitoring_slow_call: float = Field(default=5.0, gt=0)


_load = loader(MonitoringSettings)


def get_monitoring_settings() -> MonitoringSettings:
    """The process's monitoring job settings, read on first use; SettingsError if one is
    wrong."""
    return _load()
