"""``outlast_active_alerts``: the store's active alerts, counted when metrics are collected.

Alerts live in the store, not in any worker's memory, so this gauge is computed by the
process that serves the exposition, from ``read_alerts`` (by default the error monitor's
``get_active_alerts``). A store that does not answer leaves the family empty (HELP and TYPE
only) and is logged: a scrape never fails because of it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from outlast.monitoring.metrics._families import ACTIVE_ALERTS

if TYPE_CHECKING:
    from outlast.store import Alert

__all__ = ["ALERTS_READ_LIMIT", "ActiveAlertsCollector", "read_active_alerts"]

log = logging.getLogger("outlast.monitoring")

ALERTS_READ_LIMIT: Final = 10_000
"""Active alerts read per collection at most (far more than any sane on-call load)."""

AlertReader = Callable[[], Sequence["Alert"]]


def read_active_alerts() -> Sequence[Alert]:
    """The active alerts of the process's error monitor (its store)."""
    from outlast.monitoring import error_monitor

    return error_monitor.get_active_alerts(limit=ALERTS_READ_LIMIT)


class ActiveAlertsCollector(Collector):
    """Yields ``outlast_active_alerts`` from ``read_alerts`` at every collection."""

    def __init__(self, read_alerts: AlertReader = read_active_alerts) -> None:
        self._read_alerts = read_alerts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = _empty_family()
        try:
            alerts = self._read_alerts()
        except Exception:
            log.exception("active alerts could not be read for metrics")
            alerts = ()
        counts = Counter((alert.alert_type, _severity(alert)) for alert in alerts)
        for (alert_type, severity), count in sorted(counts.items()):
            family.add_metric([alert_type, severity], count)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield _empty_family()


def _empty_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(ACTIVE_ALERTS.name, ACTIVE_ALERTS.help, labels=ACTIVE_ALERTS.labels)


def _severity(alert: Alert) -> str:
    return str(getattr(alert.severity, "value", alert.severity))
