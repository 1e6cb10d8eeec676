"""Model-based test: random sequences of clock moves and calls (finished at once or left
in flight) drive a real breaker and a tiny reference model, which must always agree."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from outlast.config import CircuitBreakerConfig
from outlast.errors import CircuitBreakerOpenError
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.testing import FakeClock

OUTCOMES = st.sampled_from(["success", "failure", "ignored"])


class Boom(Exception):
    """A failure the breaker records."""


@dataclass
class ReferenceBreaker:
    """The breaker's rules, written as plainly as possible.

    Instead of start times it numbers the states it passes through (``epoch``): a call's
    outcome matters only if the breaker is still in the state that admitted it.
    """

    threshold: int
    recovery: float
    probes: int
    state: str = "closed"
    epoch: int = 0
    consecutive: int = 0
    open_until: float = 0.0
    admitted: int = 0
    probe_successes: int = 0
    totals: dict[str, int] = field(
        default_factory=lambda: {"success": 0, "failure": 0, "rejected": 0}
    )

    def move(self, state: str, now: float) -> None:
        self.state, self.epoch = state, self.epoch + 1
        self.admitted = self.probe_successes = 0
        if state == "open":
            self.open_until = now + self.recovery
        if state == "closed":
            self.consecutive = 0

    def admit(self, now: float) -> bool:
        if self.state == "open" and now >= self.open_until:
            self.move("half_open", now)
        allowed = self.state == "closed" or (
            self.state == "half_open" and self.admitted < self.probes
        )
        if not allowed:
            self.totals["rejected"] += 1
        elif self.state == "half_open":
            self.admitted += 1
        return allowed

    def finish(self, epoch: int, outcome: str, now: float) -> None:
        if outcome != "ignored":
            self.totals[outcome] += 1
        if epoch != self.epoch or self.state == "open":
            return
        if outcome == "ignored":
            self.admitted -= self.state == "half_open"
        elif outcome == "success":
            self.consecutive = 0
            self.probe_successes += self.state == "half_open"
            if self.state == "half_open" and self.probe_successes == self.probes:
                self.move("closed", now)
        else:
            self.consecutive += 1
            if self.state == "half_open" or self.consecutive >= self.threshold:
                self.move("open", now)

    def retry_after(self, now: float) -> float:
        return max(0.0, self.open_until - now) if self.state == "open" else 0.0


class BreakerMachine(RuleBasedStateMachine):
    """Drives ``CircuitBreaker`` and ``ReferenceBreaker`` side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=1000.0)
        self.pending: list[tuple[float, int]] = []  # (started, model epoch) of calls in flight

    @initialize(
        threshold=st.integers(min_value=1, max_value=4),
        recovery=st.sampled_from([1.0, 5.0, 30.0]),
        probes=st.integers(min_value=1, max_value=3),
    )
    def build(self, threshold: int, recovery: float, probes: int) -> None:
        config = CircuitBreakerConfig(
            failure_threshold=threshold,
            recovery_timeout=recovery,
            half_open_max_calls=probes,
            ignored_exceptions=(KeyError,),
        )
        self.breaker = CircuitBreaker("model", config=config, clock=self.clock)
        self.model = ReferenceBreaker(threshold, recovery, probes)

    def admit(self) -> float | None:
        """Ask both for admission; they must agree. Returns the start time if admitted."""
        now = self.clock.monotonic()
        expected = self.model.admit(now)
        rejected: CircuitBreakerOpenError | None = None
        try:
            started = self.breaker.before_call()
        except CircuitBreakerOpenError as error:
            rejected = error
        if rejected is None:
            assert expected, "breaker admitted a call the model rejects"
            assert started == now
            return started
        assert not expected, "breaker rejected a call the model admits"
        assert rejected.name == "model"
        assert rejected.retry_after > 0
        if self.model.state == "open":
            assert rejected.retry_after == pytest.approx(self.model.retry_after(now))
        return None

    def report(self, started: float, epoch: int, outcome: str) -> None:
        self.model.finish(epoch, outcome, self.clock.monotonic())
        if outcome == "success":
            self.breaker.on_success(started)
        else:
            error = Boom() if outcome == "failure" else KeyError("ignored")
            self.breaker.on_failure(error, started)

    @rule(seconds=st.sampled_from([0.0, 0.25, 1.0, 4.0, 5.0, 29.0, 30.0, 31.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(outcome=OUTCOMES)
    def call(self, outcome: str) -> None:
        started = self.admit()
        if started is not None:
            self.report(started, self.model.epoch, outcome)

    @rule()
    def begin(self) -> None:
        started = self.admit()
        if started is not None:
            self.pending.append((started, self.model.epoch))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), outcome=OUTCOMES)
    def finish(self, data: st.DataObject, outcome: str) -> None:
        index = data.draw(st.integers(min_value=0, max_value=len(self.pending) - 1))
        started, epoch = self.pending.pop(index)
        self.report(started, epoch, outcome)

    @rule()
    def force_open(self) -> None:
        now = self.clock.monotonic()
        if self.model.state == "open":
            self.model.open_until = now + self.model.recovery
        else:
            self.model.move("open", now)
        self.breaker.force_open()

    # A call admitted at this very instant would be indistinguishable by start time from
    # one admitted after the reset; real clocks move, so the fake one must move first.
    @precondition(lambda self: all(s < self.clock.monotonic() for s, _ in self.pending))
    @rule()
    def reset(self) -> None:
        self.model.move("closed", self.clock.monotonic())
        self.model.totals = dict.fromkeys(self.model.totals, 0)
        self.breaker.reset()

    @invariant()
    def states_agree(self) -> None:
        if not hasattr(self, "model"):
            return
        now = self.clock.monotonic()
        stats = self.breaker.stats()
        assert stats["state"] == self.model.state
        assert stats["failure_count"] == self.model.consecutive
        assert stats["retry_after"] == pytest.approx(self.model.retry_after(now))
        totals = (stats["success_count"], stats["total_failures"], stats["rejected_count"])
        assert totals == tuple(self.model.totals.values())


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
test_breaker_agrees_with_the_reference_model = BreakerMachine.TestCase
test_breaker_agrees_with_the_reference_model.__doc__ = (
    "Under any sequence of time moves and calls, the breaker's state, admissions, "
    "retry_after and counters match the reference model."
)
