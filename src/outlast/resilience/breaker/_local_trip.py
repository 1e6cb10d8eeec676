"""Whether a cluster breaker's own unwritten outcomes, applied to its cached view, complete a
rule: then the process opens on that very call, instead of after the write-behind flush.

The SYNC script (:mod:`._redis_breaker_scripts`) applies the same rules to the same
outcomes inside Redis; this module predicts its verdict from what the process knows: the
last :class:`~._breaker_batch.View` and the batches Redis has not applied to it yet (the
one in flight and the one collecting). It never guesses towards a trip, so a process never
opens where Redis, given the same view, would not:

* the consecutive-failure run and a count window that is not yet full are exact;
* a full count window drops the view's oldest calls, whose outcomes the view does not list:
  they are taken to be failures (and slow), so such a trip may wait for the next flush;
* a time window puts every pending outcome in the server's current second. While the view
  was made in that second (estimated from the view's server time and the time since it
  arrived, with a margin for the flush's round trip) its totals are exact; once the window
  has passed them, only the pending outcomes are left; in between, the seconds that expired
  are taken to have held the view's failures (or slow calls), and none of its calls count
  towards ``minimum_calls``.

What other processes wrote since the view was made is unknown here: a trip decided on a
view that missed another process's success still opens the breaker (the process has
reported it; Redis confirms it, see ``Batch.trip``).

Nothing here locks, reads a clock or talks to Redis; the caller holds the breaker's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from outlast.config import CircuitBreakerConfig, WindowType
from outlast.resilience.breaker._breaker_batch import Batch, View

__all__ = ["TripRules", "rule_completed", "success_may_complete"]

_MARGIN_MS = 100  # a view this close to the end of its second may be older than the flush
_FAILED_CODES = (b"1", b"3")
_SLOW_CODES = (b"2", b"3")


@dataclass(frozen=True, slots=True, kw_only=True)
class TripRules:
    """The rules that open a closed breaker, as the SYNC script applies them."""

    threshold: int
    window: str
    """"" (no rate rule), "count" or "time"."""
    size: int
    minimum_calls: int
    failure_rate: float | None
    slow_rate: float | None

    @classmethod
    def of(cls, config: CircuitBreakerConfig) -> TripRules:
        """The rules ``config`` sets (a count window's minimum capped at its size)."""
        window, minimum = "", config.minimum_calls
        if config.uses_window:
            window = "time" if config.window_type is WindowType.TIME_BASED else "count"
            if window == "count":
                minimum = min(minimum, config.window_size)
        return cls(
            threshold=config.failure_threshold,
            window=window,
            size=config.window_size,
            minimum_calls=minimum,
            failure_rate=config.failure_rate_threshold,
            slow_rate=config.slow_call_rate_threshold,
        )


def rule_completed(
    view: View, pending: Sequence[Batch], rules: TripRules, *, elapsed: float
) -> str | None:
    """The reason the view plus ``pending`` (oldest first) opens the breaker, or None.

    ``elapsed``: seconds since the view arrived (places a time window's outcomes).
    """
    if consecutive_run(view, pending) >= rules.threshold:
        return "consecutive_failures"
    if rules.window == "count":
        return _count_window(view, pending, rules)
    if rules.window == "time":
        return _time_window(view, pending, rules, elapsed=max(0.0, elapsed))
    return None


def success_may_complete(
    view: View, pending: Sequence[Batch], rules: TripRules, *, slow: bool
) -> bool:
    """Whether a success just added to ``pending`` may have completed a rule: a slow one may
    complete the slow-call rule; any other only by bringing the window up to
    ``minimum_calls`` (past it, a success can only lower the rates). Spares the closed
    success path the full check."""
    if slow and rules.slow_rate is not None:
        return True
    calls = sum(batch.window_calls for batch in pending)
    if rules.window == "count":
        calls += view.window_calls  # a time window may count only the pending calls
    return calls <= rules.minimum_calls


def consecutive_run(view: View, pending: Sequence[Batch]) -> int:
    """The failures since the last success, the view's run continued by ``pending``."""
    run = view.consecutive
    for batch in pending:
        run = batch.run if batch.saw_success else run + batch.lead
    return run


def _count_window(view: View, pending: Sequence[Batch], rules: TripRules) -> str | None:
    calls = sum(batch.window_calls for batch in pending)
    if calls >= rules.size:  # the window holds pending calls only: their codes say it all
        codes = b"".join(batch.codes for batch in pending)[-rules.size :]
        failed = sum(codes.count(code) for code in _FAILED_CODES)
        slow = sum(codes.count(code) for code in _SLOW_CODES)
        return _rate_rule(rules, rules.size, failed, slow)
    gone = max(0, view.window_calls + calls - rules.size)
    return _rate_rule(
        rules,
        view.window_calls - gone + calls,
        max(0, view.window_failures - gone) + sum(b.window_failures for b in pending),
        max(0, view.window_slow - gone) + sum(b.window_slow for b in pending),
    )


def _time_window(
    view: View, pending: Sequence[Batch], rules: TripRules, *, elapsed: float
) -> str | None:
    calls = sum(batch.window_calls for batch in pending)
    failed = sum(batch.window_failures for batch in pending)
    slow = sum(batch.window_slow for batch in pending)
    held, second = view.window_calls, view.at // 1000
    now_ms = view.at + elapsed * 1000.0
    if (now_ms + _MARGIN_MS) // 1000 == second:  # nothing the view holds has expired
        return _rate_rule(
            rules, held + calls, view.window_failures + failed, view.window_slow + slow
        )
    if now_ms // 1000 - second >= rules.size:  # everything it holds has
        return _rate_rule(rules, calls, failed, slow)
    return _rate_rule(
        rules,
        calls,
        failed,
        slow,
        failed_of=held - view.window_failures + calls,
        slow_of=held - view.window_slow + calls,
    )


def _rate_rule(
    rules: TripRules,
    calls: int,
    failed: int,
    slow: int,
    *,
    failed_of: int | None = None,
    slow_of: int | None = None,
) -> str | None:
    """The rate rule that trips with ``calls`` in the window (rates of ``failed`` among
    ``failed_of`` and ``slow`` among ``slow_of``, both ``calls`` unless given)."""
    if calls < rules.minimum_calls:
        return None
    limit = rules.failure_rate
    if limit is not None and failed * 100 >= limit * (calls if failed_of is None else failed_of):
        return "failure_rate"
    limit = rules.slow_rate
    if limit is not None and slow * 100 >= limit * (calls if slow_of is None else slow_of):
        return "slow_call_rate"
    return None
