"""Each metric family counts what it names, from the core's events or its own entry point."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from _metrics_state import fresh_metrics
from outlast.config import reload_settings
from outlast.errors import BulkheadCapacityError, CircuitBreakerOpenError
from outlast.monitoring import metrics
from outlast.resilience import get_bulkhead, get_circuit_breaker
from outlast.resilience._events import (
    BreakerTransition,
    CallFailed,
    FallbackUsed,
    RecoveryFailed,
    RetryScheduled,
    publish,
)
from outlast.testing import FakeClock

pytestmark = pytest.mark.usefixtures("fresh_metrics")
__all__ = ["fresh_metrics"]


def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in the exposition, by their sorted labels."""
    text = metrics.exposition(alerts=False)[0].decode()
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_failed_attempts_count_by_category_and_error_type() -> None:
    """A CallFailed counts under the error's category and class name."""
    metrics.listen()
    publish(CallFailed("pay", ConnectionError("refused"), 1))
    publish(CallFailed("pay", ConnectionError("refused again"), 2))
    publish(CallFailed("pay", ValueError("bad amount"), 1))
    assert samples("outlast_errors_total") == {
        (("category", "network"), ("error_type", "ConnectionError")): 2.0,
        (("category", "validation"), ("error_type", "ValueError")): 1.0,
    }


def test_error_types_beyond_the_limit_count_as_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a limit of two error types, a third type is counted as 'other'."""
    monkeypatch.setenv("OUTLAST_METRICS_MAX_ERROR_TYPES", "2")
    reload_settings()
    metrics.listen()
    for error in (KeyError("a"), TypeError("b"), LookupError("c"), KeyError("d")):
        publish(CallFailed("op", error, 1))
    counted = {labels[1][1]: value for labels, value in samples("outlast_errors_total").items()}
    assert counted == {"KeyError": 2.0, "TypeError": 1.0, metrics.OTHER: 1.0}


def test_bounded_names_keep_the_first_names_only() -> None:
    """BoundedNames names the first ``limit`` values and answers 'other' after."""
    names = metrics.BoundedNames(2)
    assert [names.name(v) for v in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]
    assert names.named == {"a", "b"}


def test_breaker_transitions_set_the_state_gauge_and_count() -> None:
    """A transition is counted by breaker and states, and the state gauge follows it."""
    metrics.listen()
    publish(BreakerTransition("db", "closed", "open"))
    assert samples("outlast_circuit_breaker_state") == {(("breaker", "db"),): 2.0}
    publish(BreakerTransition("db", "open", "half_open"))
    assert samples("outlast_circuit_breaker_state") == {(("breaker", "db"),): 1.0}
    publish(BreakerTransition("db", "half_open", "closed"))
    assert samples("outlast_circuit_breaker_state") == {(("breaker", "db"),): 0.0}
    transitions = samples("outlast_circuit_breaker_transitions_total")
    assert transitions == {
        (("breaker", "db"), ("from_state", "closed"), ("to_state", "open")): 1.0,
        (("breaker", "db"), ("from_state", "open"), ("to_state", "half_open")): 1.0,
        (("breaker", "db"), ("from_state", "half_open"), ("to_state", "closed")): 1.0,
    }


def test_rejections_count_by_breaker_and_bulkhead() -> None:
    """Open-breaker and full-bulkhead rejections count under their names, and as errors."""
    metrics.listen()
    publish(CallFailed("op", CircuitBreakerOpenError("db", 5.0), 1))
    publish(CallFailed("op", BulkheadCapacityError(name="pool", capacity=3), 1))
    publish(CallFailed("op", BulkheadCapacityError(name="pool", capacity=3), 1))
    assert samples("outlast_circuit_breaker_rejections_total") == {(("breaker", "db"),): 1.0}
    assert samples("outlast_bulkhead_rejections_total") == {(("bulkhead", "pool"),): 2.0}
    assert sum(samples("outlast_errors_total").values()) == 3.0


def test_retries_and_fallbacks_count_by_operation() -> None:
    """RetryScheduled and FallbackUsed count under their operation."""
    metrics.listen()
    publish(RetryScheduled("pay", ConnectionError(), 1, 0.5))
    publish(RetryScheduled("pay", ConnectionError(), 2, 1.0))
    publish(FallbackUsed("quote", TimeoutError()))
    assert samples("outlast_retries_total") == {(("operation", "pay"),): 2.0}
    assert samples("outlast_fallbacks_total") == {(("operation", "quote"),): 1.0}


def test_recoveries_count_by_strategy_and_outcome() -> None:
    """count_recovery counts by strategy and outcome; RecoveryFailed is not counted twice."""
    metrics.listen()
    metrics.count_recovery("retry", successful=True)
    metrics.count_recovery("retry", successful=False)
    publish(RecoveryFailed("op", "db", "retry", ConnectionError(), 3))
    assert samples("outlast_recoveries_total") == {
        (("outcome", "succeeded"), ("strategy", "retry")): 1.0,
        (("outcome", "failed"), ("strategy", "retry")): 1.0,
    }


def test_nothing_is_counted_without_listening() -> None:
    """Before listen() (and after unlisten()) the core's events leave the metrics alone."""
    publish(CallFailed("op", ConnectionError(), 1))
    metrics.listen()
    metrics.unlisten()
    publish(CallFailed("op", ConnectionError(), 1))
    assert samples("outlast_errors_total") == {}
    assert not metrics.listening()


def test_task_duration_histogram_counts_by_task_and_state() -> None:
    """Observations land in the bucket of their duration, by task and state."""
    histogram = metrics.families().task_duration
    histogram.labels("outlast.payments.charge", "SUCCESS").observe(0.02)
    histogram.labels("outlast.payments.charge", "SUCCESS").observe(3.0)
    histogram.labels("outlast.payments.charge", "FAILURE").observe(0.2)
    counts = samples("outlast_task_duration_seconds_count")
    assert counts == {
        (("state", "SUCCESS"), ("task", "outlast.payments.charge")): 2.0,
        (("state", "FAILURE"), ("task", "outlast.payments.charge")): 1.0,
    }
    buckets = samples("outlast_task_duration_seconds_bucket")
    success = (("le", "0.025"), ("state", "SUCCESS"), ("task", "outlast.payments.charge"))
    assert buckets[success] == 1.0


def test_sampler_reads_breakers_and_bulkheads_at_most_once_per_interval() -> None:
    """The sampler sets the state and in-use gauges, then waits out its interval."""
    clock = FakeClock()
    breaker = get_circuit_breaker("sampled", failure_threshold=1, clock=clock, scope="local")
    bulkhead = get_bulkhead("sampled_pool", 3, scope="local")
    sampler = metrics.Sampler(5.0, clock=clock)
    assert bulkhead.try_acquire()
    assert sampler.maybe_sample()
    assert samples("outlast_circuit_breaker_state") == {(("breaker", "sampled"),): 0.0}
    assert samples("outlast_bulkhead_in_use") == {(("bulkhead", "sampled_pool"),): 1.0}
    breaker.force_open()
    assert not sampler.maybe_sample()  # within the interval: nothing read
    clock.advance(5.0)
    assert sampler.maybe_sample()
    assert samples("outlast_circuit_breaker_state") == {(("breaker", "sampled"),): 2.0}
    bulkhead.release()
