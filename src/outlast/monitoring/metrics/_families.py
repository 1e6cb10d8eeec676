"""The metric families Outlast exposes, defined once, and the process's instances of them.

Each family is a row of :data:`FAMILIES` (kind, name, help, labels): the instances are built
from it, and the exposition announces a family from it even when no process has a sample
of it yet, so every family always carries HELP and TYPE. Instances are built on first use,
not at import, because prometheus-client picks in-memory or file-backed values when a
metric is created: a worker that switches multiprocess mode on (``_multiprocess``) before
its first event gets file-backed ones.

Label values are bounded: names of breakers, bulkheads, operations and tasks come from
code and configuration; error types pass through :class:`~._labels.BoundedNames`;
categories, states and outcomes are small fixed sets. No label ever holds a fingerprint,
a message or an id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ACTIVE_ALERTS",
    "FAMILIES",
    "TASK_DURATION_BUCKETS",
    "Families",
    "FamilySpec",
    "families",
    "reset_families",
]

Kind = Literal["counter", "gauge", "histogram"]
GaugeMode = Literal["", "liveall", "livemax"]

TASK_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
"""Seconds: from a cache hit to a five-minute report."""


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """One family: what it is called, what it means, its labels and how processes combine
    (``mode``: prometheus-client's ``multiprocess_mode``, gauges only)."""

    kind: Kind
    name: str
    help: str
    labels: tuple[str, ...]
    mode: GaugeMode = ""


ERRORS = FamilySpec(
    "counter", "outlast_errors",
    "Failed attempts of protected calls, by error category and error type (the class name; "
    "types beyond the per-process limit count as 'other').",
    ("category", "error_type"),
)  # fmt: skip
BREAKER_STATE = FamilySpec(
    "gauge", "outlast_circuit_breaker_state",
    "Circuit breaker state as the worst live process sees it: 0 closed, 1 half-open, 2 open.",
    ("breaker",), "livemax",
)  # fmt: skip
BREAKER_TRANSITIONS = FamilySpec(
    "counter", "outlast_circuit_breaker_transitions",
    "Circuit breaker state changes, by breaker and the states left and entered.",
    ("breaker", "from_state", "to_state"),
)  # fmt: skip
BREAKER_REJECTIONS = FamilySpec(
    "counter", "outlast_circuit_breaker_rejections",
    "Calls an open circuit breaker refused.", ("breaker",),
)  # fmt: skip
BULKHEAD_IN_USE = FamilySpec(
    "gauge", "outlast_bulkhead_in_use",
    "Permits held, as each live process last sampled its bulkheads (pid label; a cluster "
    "bulkhead reports its cluster-wide count).",
    ("bulkhead",), "liveall",
)  # fmt: skip
BULKHEAD_REJECTIONS = FamilySpec(
    "counter", "outlast_bulkhead_rejections",
    "Calls a full bulkhead refused.", ("bulkhead",),
)  # fmt: skip
RETRIES = FamilySpec(
    "counter", "outlast_retries",
    "Attempts scheduled to run again, by operation or task name: retries of protected calls, "
    "and tasks sent back for a later attempt (deferrals included).",
    ("operation",),
)  # fmt: skip
FALLBACKS = FamilySpec(
    "counter", "outlast_fallbacks",
    "Calls the fallback answered, by operation.", ("operation",),
)  # fmt: skip
DEAD_LETTERS = FamilySpec(
    "counter", "outlast_dead_letters",
    "Operation tasks that failed for good and were dead-lettered, by task name.", ("task",),
)  # fmt: skip
RECOVERIES = FamilySpec(
    "counter", "outlast_recoveries",
    "Recoveries run, by strategy and outcome (succeeded or failed).", ("strategy", "outcome"),
)  # fmt: skip
TASK_DURATION = FamilySpec(
    "histogram", "outlast_task_duration_seconds",
    "Time a worker spent running a task, by task name and final state.", ("task", "state"),
)  # fmt: skip
ACTIVE_ALERTS = FamilySpec(
    "gauge", "outlast_active_alerts",
    "Active alerts in the store when the metrics were collected, by alert type and severity.",
    ("alert_type", "severity"),
)  # fmt: skip

FAMILIES: Final = (
    ERRORS, BREAKER_STATE, BREAKER_TRANSITIONS, BREAKER_REJECTIONS, BULKHEAD_IN_USE,
    BULKHEAD_REJECTIONS, RETRIES, FALLBACKS, DEAD_LETTERS, RECOVERIES, TASK_DURATION,
)  # fmt: skip
"""The families processes record; ``ACTIVE_ALERTS`` is computed when collected instead."""


@dataclass(frozen=True, slots=True)
class Families:
    """The process's instances of :data:`FAMILIES`, in a registry of their own (never the
    default one, so an application's own metrics and ours do not collide)."""

    registry: CollectorRegistry
    errors: Counter
    breaker_state: Gauge
    breaker_transitions: Counter
    breaker_rejections: Counter
    bulkhead_in_use: Gauge
    bulkhead_rejections: Counter
    retries: Counter
    fallbacks: Counter
    dead_letters: Counter
    recoveries: Counter
    task_duration: Histogram


def _counter(spec: FamilySpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def _gauge(spec: FamilySpec, registry: CollectorRegistry) -> Gauge:
    mode = spec.mode or "all"
    return Gauge(spec.name, spec.help, spec.labels, registry=registry, multiprocess_mode=mode)


def build_families() -> Families:
    """New instances of every family in a new registry."""
    registry = CollectorRegistry(auto_describe=True)
    return Families(
        registry=registry,
        errors=_counter(ERRORS, registry),
        breaker_state=_gauge(BREAKER_STATE, registry),
        breaker_transitions=_counter(BREAKER_TRANSITIONS, registry),
        breaker_rejections=_counter(BREAKER_REJECTIONS, registry),
        bulkhead_in_use=_gauge(BULKHEAD_IN_USE, registry),
        bulkhead_rejections=_counter(BULKHEAD_REJECTIONS, registry),
        retries=_counter(RETRIES, registry),
        fallbacks=_counter(FALLBACKS, registry),
        dead_letters=_counter(DEAD_LETTERS, registry),
        recoveries=_counter(RECOVERIES, registry),
        task_duration=_histogram(TASK_DURATION, registry),
    )


def _histogram(spec: FamilySpec, registry: CollectorRegistry) -> Histogram:
    return Histogram(
        spec.name, spec.help, spec.labels, registry=registry, buckets=TASK_DURATION_BUCKETS
    )


_current: Families | None = None
_lock = threading.Lock()


def families() -> Families:
    """The process's families, built on first use."""
    current = _current
    if current is not None:
        return current
    return _build_once()


def _build_once() -> Families:
    global _current
    with _lock:
        if _current is None:
            _current = build_families()
        return _current


def reset_families() -> None:
    """Forget the process's families: the next use builds them again (after multiprocess
    mode is switched on, and between tests)."""
    global _current
    with _lock:
        _current = None
