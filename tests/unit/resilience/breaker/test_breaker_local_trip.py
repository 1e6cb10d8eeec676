"""The prediction a cluster breaker makes from its view and its own unwritten outcomes
(``_local_trip``): exact where the view says enough, and never a trip where the rules,
applied to everything Redis holds, would not trip.

Pure functions: views and batches are built by hand; Redis is modelled by the outcome lists
and per-second buckets that the view summarises.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from outlast.config import CircuitBreakerConfig, WindowType
from outlast.resilience.breaker._breaker_batch import Batch, View
from outlast.resilience.breaker._breaker_state import CircuitState
from outlast.resilience.breaker._local_trip import (
    TripRules,
    consecutive_run,
    rule_completed,
    success_may_complete,
)

CODES = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=20)
RATES = st.sampled_from([None, 20.0, 50.0, 80.0, 100.0])


def view(
    *, consecutive: int = 0, calls: int = 0, failed: int = 0, slow: int = 0, at: int = 0
) -> View:
    return View("k", 1, 1, CircuitState.CLOSED, 0.0, consecutive, 0, 0, 0, calls, failed, slow, at)


def batch_of(outcomes: list[tuple[bool, bool]], size: int) -> Batch:
    batch = Batch(view_id="k", epoch=1, limit=size)
    for failed, slow in outcomes:
        batch.window_outcome(failed, slow)
    return batch


def rules(
    window: WindowType, size: int, minimum: int, rate: float | None, slow: float | None
) -> TripRules:
    return TripRules.of(
        CircuitBreakerConfig(
            failure_threshold=1000,
            failure_rate_threshold=rate,
            slow_call_rate_threshold=slow if slow is not None or rate is not None else 50.0,
            window_type=window,
            window_size=size,
            minimum_calls=minimum,
        )
    )


def trips(r: TripRules, calls: int, failed: int, slow: int) -> bool:
    """The rule as Redis applies it to the totals its window holds."""
    if calls < r.minimum_calls:
        return False
    if r.failure_rate is not None and failed * 100 >= r.failure_rate * calls:
        return True
    return r.slow_rate is not None and slow * 100 >= r.slow_rate * calls


def totals(outcomes: list[tuple[bool, bool]]) -> tuple[int, int, int]:
    return len(outcomes), sum(f for f, _ in outcomes), sum(s for _, s in outcomes)


def test_the_run_continues_the_views_across_pending_batches() -> None:
    """Failures before any success add to the view's run; a success restarts it."""
    sent = Batch(view_id="k", epoch=1, limit=5)
    for _ in range(2):
        sent.closed_failure()
    collecting = Batch(view_id="k", epoch=1, limit=5)
    collecting.closed_failure()
    assert consecutive_run(view(consecutive=1), [sent, collecting]) == 4
    collecting.saw_success, collecting.run = True, 0
    collecting.closed_failure()
    assert consecutive_run(view(consecutive=1), [sent, collecting]) == 1


def test_the_threshold_th_failure_completes_the_consecutive_rule() -> None:
    """Threshold 3: the view's two failures and one pending failure open it."""
    r = TripRules.of(CircuitBreakerConfig(failure_threshold=3))
    pending = Batch(view_id="k", epoch=1, limit=100)
    pending.closed_failure()
    assert rule_completed(view(consecutive=1), [pending], r, elapsed=0.0) is None
    pending.closed_failure()
    assert rule_completed(view(consecutive=1), [pending], r, elapsed=0.0) == "consecutive_failures"


@given(
    held=CODES,
    pending=CODES,
    cut=st.integers(min_value=0, max_value=20),
    size=st.integers(min_value=1, max_value=8),
    minimum=st.integers(min_value=1, max_value=10),
    rate=RATES,
    slow=RATES,
)
@example(  # the failure that leaves the window is the one the view counted
    held=[(True, False), (False, False)], pending=[(False, False)], cut=0, size=2,
    minimum=1, rate=50.0, slow=None,
)  # fmt: skip
@settings(max_examples=300)
def test_a_count_window_never_trips_on_a_guess(
    held: list[tuple[bool, bool]],
    pending: list[tuple[bool, bool]],
    cut: int,
    size: int,
    minimum: int,
    rate: float | None,
    slow: float | None,
) -> None:
    """Whatever the order of the calls Redis holds, a predicted trip is a real one; and the
    prediction is exact while no held call leaves the window."""
    r = rules(WindowType.COUNT_BASED, size, minimum, rate, slow)
    held = held[-size:]
    calls, failed, slowed = totals(held)
    seen = view(calls=calls, failed=failed, slow=slowed)
    batches = [batch_of(pending[:cut], size), batch_of(pending[cut:], size)]
    predicted = rule_completed(seen, batches, r, elapsed=0.0) is not None
    actual = trips(r, *totals((held + pending)[-size:]))
    assert actual or not predicted
    if len(held) + len(pending) <= size or len(pending) >= size:
        assert predicted == actual


SECOND_BUCKETS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=5
)


@given(
    buckets=SECOND_BUCKETS,
    pending=CODES,
    offset=st.integers(min_value=0, max_value=999),
    elapsed=st.floats(min_value=0.0, max_value=7.0),
    delay=st.integers(min_value=0, max_value=99),
    minimum=st.integers(min_value=1, max_value=10),
    rate=RATES,
    slow=RATES,
)
@example(  # the view's second ends before the flush lands: its failures expire
    buckets=[(2, 2, 0)], pending=[(False, False)], offset=950, elapsed=0.0, delay=60,
    minimum=1, rate=50.0, slow=None,
)  # fmt: skip
@example(  # a second has passed: the older second's failures have expired
    buckets=[(2, 2, 0), (2, 0, 0)], pending=[(False, False)], offset=10, elapsed=1.0,
    delay=0, minimum=1, rate=40.0, slow=None,
)  # fmt: skip
@settings(max_examples=300)
def test_a_time_window_never_trips_on_a_guess(
    buckets: list[tuple[int, int, int]],
    pending: list[tuple[bool, bool]],
    offset: int,
    elapsed: float,
    delay: int,
    minimum: int,
    rate: float | None,
    slow: float | None,
) -> None:
    """Whatever the seconds that expired since the view held, a predicted trip is a real one
    when the flush lands within 100 ms; and the prediction is exact within the view's
    second."""
    size = len(buckets)
    r = rules(WindowType.TIME_BASED, size, minimum, rate, slow)
    second = 1_000_000  # the view's second; buckets[i] holds second - size + 1 + i
    held = [(c, min(f, c), min(s, c)) for c, f, s in buckets]
    seen = view(
        calls=sum(c for c, _, _ in held),
        failed=sum(f for _, f, _ in held),
        slow=sum(s for _, _, s in held),
        at=second * 1000 + offset,
    )
    predicted = rule_completed(seen, [batch_of(pending, size)], r, elapsed=elapsed)
    now_ms = second * 1000 + offset + elapsed * 1000
    flushed = int(now_ms + delay) // 1000
    kept = [b for i, b in enumerate(held) if second - size + 1 + i > flushed - size]
    calls, failed, slowed = totals(pending)
    actual = trips(
        r,
        calls + sum(c for c, _, _ in kept),
        failed + sum(f for _, f, _ in kept),
        slowed + sum(s for _, _, s in kept),
    )
    assert actual or predicted is None
    if (now_ms + 100) // 1000 == second:
        assert (predicted is not None) == actual


@given(
    held=CODES,
    pending=CODES,
    slow_success=st.booleans(),
    window=st.sampled_from([WindowType.COUNT_BASED, WindowType.TIME_BASED]),
    elapsed=st.floats(min_value=0.0, max_value=3.0),
    size=st.integers(min_value=1, max_value=8),
    minimum=st.integers(min_value=1, max_value=10),
    rate=RATES,
    slow=RATES,
)
@settings(max_examples=300)
def test_a_success_the_cheap_check_skips_completes_no_rule(
    held: list[tuple[bool, bool]],
    pending: list[tuple[bool, bool]],
    slow_success: bool,
    window: WindowType,
    elapsed: float,
    size: int,
    minimum: int,
    rate: float | None,
    slow: float | None,
) -> None:
    """A success that ``success_may_complete`` waves through never turns a closed
    prediction into a trip."""
    r = rules(window, size, minimum, rate, slow)
    held = held[-size:]
    calls, failed, slowed = totals(held)
    seen = view(calls=calls, failed=failed, slow=slowed, at=5_000_500)
    batch = batch_of(pending, size)
    before = rule_completed(seen, [batch], r, elapsed=elapsed)
    batch.window_outcome(False, slow_success)
    after = rule_completed(seen, [batch], r, elapsed=elapsed)
    if before is None and after is not None:
        assert success_may_complete(seen, [batch], r, slow=slow_success)
