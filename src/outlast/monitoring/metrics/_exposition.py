"""The exposition: every process's metrics as Prometheus text, for ``/metrics``.

In multiprocess mode the samples come from the files of every process of every worker
under the metrics directory (merged as prometheus-client's ``MultiProcessCollector``
merges one directory, after the live gauges of dead processes are swept away); otherwise
from this process's own families. Either way every family of ``FAMILIES`` is announced
with HELP and TYPE even before its first sample, and ``outlast_active_alerts`` is computed
from the store at collection time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from outlast.monitoring.metrics._alerts import (
    ActiveAlertsCollector,
    AlertReader,
    read_active_alerts,
)
from outlast.monitoring.metrics._families import FAMILIES, families
from outlast.monitoring.metrics._multiprocess import metric_files, metrics_dir, sweep_dead

__all__ = ["collection_registry", "exposition"]


class _ProcessFamilies(Collector):
    """This process's own families (single-process mode), without the ``_created`` series
    that multiprocess mode lacks, so both modes expose the same families."""

    def collect(self) -> Iterator[Metric]:
        for metric in families().registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class _WorkerFiles(Collector):
    """The files of every process of every worker under ``root`` (multiprocess mode)."""

    def __init__(self, root: Path, *, sweep: bool) -> None:
        self._root = root
        self._sweep = sweep

    def collect(self) -> Iterable[Metric]:
        if self._sweep:
            sweep_dead(self._root)
        files = metric_files(self._root)
        merged: Iterable[Metric] = MultiProcessCollector.merge(files)  # type: ignore[no-untyped-call]
        return merged


class _EveryFamily(Collector):
    """The samples of ``source``, then an empty family for each of ``FAMILIES`` it lacked,
    so a family with no sample yet still has HELP and TYPE."""

    def __init__(self, source: Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        seen = set()
        for metric in self._source.collect():
            seen.add(metric.name)
            yield metric
        for spec in FAMILIES:
            if spec.name not in seen:
                yield Metric(spec.name, spec.help, spec.kind)


def collection_registry(
    *, alerts: bool = True, read_alerts: AlertReader = read_active_alerts, sweep: bool = True
) -> CollectorRegistry:
    """A registry that collects every process's metrics afresh at each collection, for
    ``generate_latest`` or prometheus-client's HTTP server.

    ``alerts=False`` leaves out ``outlast_active_alerts`` (no store read); ``sweep=False``
    keeps the live gauges of processes that look dead (a collector in another process
    namespace than the worker's cannot tell).
    """
    registry = CollectorRegistry(auto_describe=False)
    path = metrics_dir()
    source: Collector = _ProcessFamilies() if path is None else _WorkerFiles(path, sweep=sweep)
    registry.register(_EveryFamily(source))
    if alerts:
        registry.register(ActiveAlertsCollector(read_alerts))
    return registry


def exposition(
    *, alerts: bool = True, read_alerts: AlertReader = read_active_alerts, sweep: bool = True
) -> tuple[bytes, str]:
    """The Prometheus text exposition of every process's metrics, and its content type."""
    registry = collection_registry(alerts=alerts, read_alerts=read_alerts, sweep=sweep)
    return generate_latest(registry), CONTENT_TYPE_LATEST
