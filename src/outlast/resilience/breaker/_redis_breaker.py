"""``RedisBreakerState``: a circuit breaker state shared by every process through Redis.

Decisions come from a cached *view* of the shared state, so the closed success path does no
I/O: an outcome is added to a merged batch (:mod:`._breaker_batch`) that the link's flusher
thread (:mod:`..shared._state_sync`) writes every ``state_flush_interval`` with one Lua script,
which applies the rules atomically with the server's clock, trips the breaker if they say
so, and publishes the new view. Every process adopts published views at once, and re-reads
them every ``state_sync_interval``. An open breaker rejects from the cached deadline; once
it passes, admission asks Redis (:data:`ADMIT`), which admits ``half_open_max_calls``
probes cluster-wide. Probe outcomes wake the flusher instead of waiting for the interval;
the caller never waits on them.

A process's own outcomes count in its own decisions at once. When they, applied to its
view, complete a rule (:mod:`._local_trip`: consecutive failures, failure or slow-call rate
over a count or time window, ``minimum_calls`` respected), or a half-open probe fails, it
opens on that very call: the call's outcome returns the transition, the state read next is
OPEN, the next call is rejected without reaching the service, and the flusher is woken to
write the trip. A burst of failures therefore lets through at most ``failure_threshold``
calls per process, as a local breaker does. The closed success path still does no I/O.

Calls are told apart as in :class:`LocalBreakerState` (``started`` against the time the
view's current epoch was adopted): an outcome observed in an older epoch adds to the totals
only, and Redis ignores it too.

Redis down (the link answers UNAVAILABLE): ``down_policy`` "local" decides on a
:class:`LocalBreakerState` seeded from the last view, "fail_open" admits every call,
"fail_closed" rejects them for the link's ``retry_interval``. Outcomes keep being merged
into the batch (bounded), and the first flush that reaches Redis again writes them, adopts
the shared view and returns to cluster mode. No Redis error ever reaches a caller.

Transitions are reported by the process whose call or flush caused them, so listeners and
the event bus hear each cluster-wide transition once.

This module decides calls and collects outcomes; keeping the view, the batch and the mode
in step with Redis is :mod:`._shared_breaker_view`'s job.
"""

from __future__ import annotations

import functools
from typing import Any

from outlast._clock import Clock
from outlast.config import CircuitBreakerConfig
from outlast.resilience.breaker._breaker_batch import Batch, parse_view
from outlast.resilience.breaker._breaker_state import (
    ADMITTED,
    Admission,
    BreakerCounts,
    CircuitState,
    Transition,
)
from outlast.resilience.breaker._local_trip import TripRules, rule_completed, success_may_complete
from outlast.resilience.breaker._redis_breaker_scripts import ADMIT, CONTROL
from outlast.resilience.breaker._shared_breaker_view import CLUSTER, DownPolicy, SharedBreakerView
from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = ["DownPolicy", "RedisBreakerState"]

_HALF_OPEN_RETRY_HINT = 1.0  # as in LocalBreakerState
_CLOSED, _OPEN, _HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class RedisBreakerState(SharedBreakerView):
    """Breaker state in Redis under ``link.key("cb", name)``, shared cluster-wide.

    ``clock`` must be the breaker's clock (the ``now`` values it passes come from it).
    ``probe_lease``: a half-open period whose probes have not all reported after this many
    seconds starts over (their process may have died). ``flush_interval`` and
    ``sync_interval`` default to the settings and apply to the first breaker on ``link``.
    Creating one reads the shared view (one round trip; when Redis does not answer it
    starts in ``down_policy`` mode).
    """

    def __init__(
        self,
        name: str,
        *,
        config: CircuitBreakerConfig,
        link: RedisLink,
        clock: Clock | None = None,
        down_policy: DownPolicy = "local",
        probe_lease: float = 30.0,
        flush_interval: float | None = None,
        sync_interval: float | None = None,
    ) -> None:
        self._rules = TripRules.of(config)
        self._window = config.uses_window
        self._slow = config.slow_call_duration
        self._hint = min(_HALF_OPEN_RETRY_HINT, config.recovery_timeout)
        super().__init__(
            name,
            config=config,
            link=link,
            clock=clock,
            down_policy=down_policy,
            probe_lease=probe_lease,
            flush_interval=flush_interval,
            sync_interval=sync_interval,
        )
        keys, args = self._keys, self._base_args
        self._admit = functools.partial(ADMIT, keys=keys, args=args)
        self._admit_async = functools.partial(ADMIT.run_async, keys=keys, args=args)

    # -- admission ---------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        local = self._local
        if local is not None:
            return local.state
        if self._mode == CLUSTER:
            return self._state
        return _CLOSED if self._policy == "fail_open" else _OPEN

    def acquire(self, now: float) -> Admission:
        if self._fast:
            return ADMITTED
        decided = self._decide(now)
        if decided is not None:
            return decided
        return self._answer(self._link.call(self._admit), now)

    async def acquire_async(self, now: float) -> Admission:
        """``acquire`` for async callers: the admission round trip goes through redis.asyncio."""
        if self._fast:
            return ADMITTED
        decided = self._decide(now)
        if decided is not None:
            return decided
        return self._answer(await self._link.acall(self._admit_async), now)

    def _decide(self, now: float) -> Admission | None:
        """Admission from what this process knows, or None when Redis must be asked."""
        if self._hub is None:
            self._attach()  # first use in a forked child
        if self._mode != CLUSTER:
            local = self._local
            if local is not None:
                return local.acquire(now)
            if self._policy == "fail_open":
                return ADMITTED
            self._batch.rejected += 1
            return (self._link.retry_interval, None)
        state = self._state
        if state is _CLOSED:
            return ADMITTED if self._loaded else None
        if state is _OPEN:
            wait = self._deadline - now
            if wait <= 0.0:
                return None
        elif now >= self._hold_until:
            return None
        else:
            wait = self._hint
        # Unlocked on purpose: a statistic, at worst one rejection is lost to a flush.
        self._batch.rejected += 1
        return (wait, None)

    def _answer(self, reply: Any, now: float) -> Admission:
        """The admission Redis decided (the reply of ADMIT), or a fallback decision."""
        if isinstance(reply, Unavailable):
            self._fall_back()
            decided = self._decide(now)
            assert decided is not None  # not in cluster mode any more
            return decided
        view, transition = parse_view(reply)
        admitted, wait_ms = int(reply[15]), int(reply[16])
        self._adopt(view, admitted_at=now if admitted else None)
        if admitted:
            return ADMITTED if transition is None else (0.0, transition)
        self._batch.rejected += 1
        if wait_ms < 0:  # half-open, every probe slot taken
            self._hold_until = now + self._hint
            return (self._hint, transition)
        return (wait_ms / 1000.0, transition)

    # -- outcomes ----------------------------------------------------------------------

    def record_success(self, started: float, now: float) -> Transition | None:
        wake, opened = False, None
        with self._lock:
            batch = self._batch
            batch.successes += 1
            if started >= self._since:
                state = self._state
                if state is _CLOSED:
                    batch.saw_success = True
                    batch.run = 0
                    if self._window:
                        slow = now - started > self._slow
                        batch.window_outcome(False, slow)
                        if slow or batch.window_calls <= self._rules.minimum_calls:
                            opened = self._check_rules(now, success=True, slow=slow)
                elif state is _HALF_OPEN:
                    batch.probe_successes += 1
                    wake = True
        if wake or opened is not None:
            self._wake()
        local = self._local
        return opened if local is None else local.record_success(started, now)

    def record_failure(self, started: float, now: float) -> Transition | None:
        wake, opened = False, None
        with self._lock:
            batch = self._batch
            batch.failures += 1
            if started >= self._since:
                state = self._state
                if state is _CLOSED:
                    batch.closed_failure()
                    if self._window:
                        batch.window_outcome(True, now - started > self._slow)
                    opened = self._check_rules(now, success=False, slow=False)
                elif state is _HALF_OPEN:
                    batch.probe_failures += 1
                    wake = True
                    if self._mode == CLUSTER:
                        opened = self._open_locally(now, "probe_failed")
        if wake or opened is not None:
            self._wake()
        local = self._local
        return opened if local is None else local.record_failure(started, now)

    def _check_rules(self, now: float, *, success: bool, slow: bool) -> Transition | None:
        """Open here if the pending outcomes complete a rule (lock held, state closed)."""
        if self._mode != CLUSTER:
            return None  # the down policy decides; the shared state wins when Redis is back
        view, pending, rules = self._view, self._pending(), self._rules
        if success and not success_may_complete(view, pending, rules, slow=slow):
            return None
        reason = rule_completed(view, pending, rules, elapsed=now - self._view_seen)
        return None if reason is None else self._open_locally(now, reason)

    def release(self, started: float, now: float) -> None:
        with self._lock:
            freed = started >= self._since and self._state is _HALF_OPEN
            if freed:
                self._batch.probe_releases += 1
                self._hold_until = 0.0
        if freed:
            self._wake()
        local = self._local
        if local is not None:
            local.release(started, now)

    # -- reading -----------------------------------------------------------------------

    def retry_after(self, now: float) -> float:
        local = self._local
        if local is not None:
            return local.retry_after(now)
        if self._mode != CLUSTER:
            return 0.0 if self._policy == "fail_open" else self._link.retry_interval
        if self._state is not _OPEN:
            return 0.0
        return max(0.0, self._deadline - now)

    def counts(self, now: float) -> BreakerCounts:
        local = self._local
        with self._lock:
            view, batch, sent = self._view, self._batch, self._sent
            pending = [batch] if sent is None else [batch, sent]
            if local is not None:
                consecutive = local.counts(now).consecutive_failures
            elif batch.saw_success:
                consecutive = batch.run
            else:
                consecutive = view.consecutive + batch.lead
            calls = view.window_calls
            return BreakerCounts(
                state=self.state,
                consecutive_failures=consecutive,
                successes=view.successes + sum(b.successes for b in pending),
                failures=view.failures + sum(b.failures for b in pending),
                rejected=view.rejected + sum(b.rejected for b in pending),
                retry_after=self.retry_after(now),
                window_calls=calls if self._window else None,
                failure_rate=_percent(view.window_failures, calls) if self._window else None,
                slow_call_rate=_percent(view.window_slow, calls) if self._window else None,
                scope="cluster",
                mode=self._mode,
            )

    # -- control -----------------------------------------------------------------------

    def reset(self, now: float) -> Transition | None:
        return self._control("reset", now)

    def force_open(self, now: float) -> Transition | None:
        return self._control("open", now)

    def _control(self, action: str, now: float) -> Transition | None:
        args = (*self._base_args, action)
        reply = self._link.call(lambda client: CONTROL(client, self._keys, args))
        if isinstance(reply, Unavailable):
            self._fall_back()
            local = self._local
            if local is None:
                return None
            return local.reset(now) if action == "reset" else local.force_open(now)
        view, transition = parse_view(reply)
        with self._lock:
            if action == "reset":
                self._batch = Batch(view_id=view.id, epoch=view.epoch, limit=self._batch.limit)
        self._adopt(view)
        return transition


def _percent(part: int, total: int) -> float:
    return part * 100.0 / total if total else 0.0
