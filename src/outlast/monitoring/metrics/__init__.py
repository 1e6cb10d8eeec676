"""Prometheus metrics of Outlast, with prometheus-client, in multiprocess mode under the
prefork pool.

Families (each with HELP and TYPE, see ``FAMILIES``): ``outlast_errors_total`` by category
and error type, ``outlast_circuit_breaker_state`` (0 closed, 1 half-open, 2 open),
``outlast_circuit_breaker_transitions_total``, ``outlast_circuit_breaker_rejections_total``,
``outlast_bulkhead_in_use``, ``outlast_bulkhead_rejections_total``, ``outlast_retries_total``,
``outlast_fallbacks_total``, ``outlast_dead_letters_total``, ``outlast_recoveries_total``
by strategy and outcome, ``outlast_task_duration_seconds`` by task and state, and
``outlast_active_alerts`` (read from the store when collected).

:func:`listen` counts the core's events in this process (a worker does it at start);
:func:`exposition` returns the text of every process's metrics for ``/metrics``. Under a
prefork worker, ``OUTLAST_METRICS_DIR`` names the directory its processes write to (a
subdirectory per worker node, see ``_multiprocess``); unset, each process exposes its own.
Nothing here is on the ``@handle_errors`` success path: only failures, rejections,
transitions, retries and fallbacks are counted as they happen.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from outlast.monitoring.metrics._alerts import ActiveAlertsCollector, read_active_alerts
from outlast.monitoring.metrics._exposition import collection_registry, exposition
from outlast.monitoring.metrics._families import (
    ACTIVE_ALERTS,
    FAMILIES,
    TASK_DURATION_BUCKETS,
    Families,
    FamilySpec,
    families,
    reset_families,
)
from outlast.monitoring.metrics._labels import OTHER, BoundedNames
from outlast.monitoring.metrics._listener import (
    STATE_CODES,
    count_error,
    count_recovery,
    listen,
    listening,
    unlisten,
)
from outlast.monitoring.metrics._multiprocess import (
    ENV_VARIABLE,
    OWNER_FILE,
    activate,
    instance_dir,
    mark_dead,
    metric_files,
    metrics_dir,
    prepare,
    prune_instances,
    sweep_dead,
)
from outlast.monitoring.metrics._sampling import Sampler, sample_now

__all__ = [
    "ACTIVE_ALERTS",
    "CONTENT_TYPE_LATEST",
    "ENV_VARIABLE",
    "FAMILIES",
    "OTHER",
    "OWNER_FILE",
    "STATE_CODES",
    "TASK_DURATION_BUCKETS",
    "ActiveAlertsCollector",
    "BoundedNames",
    "Families",
    "FamilySpec",
    "Sampler",
    "activate",
    "collection_registry",
    "count_error",
    "count_recovery",
    "exposition",
    "families",
    "instance_dir",
    "listen",
    "listening",
    "mark_dead",
    "metric_files",
    "metrics_dir",
    "prepare",
    "prune_instances",
    "read_active_alerts",
    "reset_families",
    "sample_now",
    "sweep_dead",
    "unlisten",
]
