"""Slow calls: counted per operation and service in the windows, taken from the buffer
with the other counts, and added to what performance_impact judges."""

from __future__ import annotations

from collections import Counter

from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._alert_inputs import per_service
from outlast.monitoring._alert_rules import AlertInputs, evaluate_rules
from outlast.monitoring._buffer import CaptureBuffer
from outlast.monitoring._stats import WindowTotals
from outlast.monitoring._windows import slow_increments


def test_slow_calls_count_by_operation_service_and_total() -> None:
    """Three slow calls of search.query land in both granularities under its operation,
    its service and the total, as kind 'w'."""
    added = slow_increments({"search.query": 3}, at=615.0)
    fine, coarse = "w10:61", "w300:2"
    for suffix in (fine, coarse):
        assert added[suffix, "o|search.query|w"] == 3
        assert added[suffix, "s|search|w"] == 3
        assert added[suffix, "t||w"] == 3
    assert len(added) == 6


def test_the_buffer_hands_slow_calls_to_the_flusher_once() -> None:
    """Slow calls noted wake the flusher, are taken counted by operation, and are gone
    from the next take."""
    woken: list[bool] = []
    buffer = CaptureBuffer(capacity=10, on_first=lambda: woken.append(True))
    for operation in ("a.x", "a.x", "b.y"):
        buffer.add_slow(operation)
    assert woken == [True]
    assert buffer.has_counts()
    assert buffer.take(10).slow == {"a.x": 2, "b.y": 1}
    assert buffer.take(10).slow == {}
    assert not buffer.has_counts()


def test_slow_calls_alone_raise_performance_impact() -> None:
    """Ten slow calls of one service in the window (no errors at all) raise
    performance_impact for it; nine do not."""
    rules = AlertRules()
    for slow, fires in ((10, True), (9, False)):
        totals = WindowTotals(
            windows={"5m": Counter({"s|search|w": slow, "s|search|s": 50})}, totals={}, tallies={}
        )
        services = per_service(totals, [], rules)
        assert services["search"].slow == slow
        found = evaluate_rules(AlertInputs(services=services), active=set(), rules=rules)
        assert any(c.labels["alertname"] == "performance_impact" for c in found) is fires
