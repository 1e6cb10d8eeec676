"""Every recovery strategy's success and failure paths, timed by a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from outlast import ErrorContext, RetryConfig, get_circuit_breaker
from outlast.errors import ServiceUnavailableError
from outlast.recovery import (
    ProbeResult,
    RecoveryManager,
    RecoveryStatistics,
    RecoveryStrategy,
    RestartLimit,
    Service,
    ServiceRegistry,
)
from outlast.testing import FakeClock

SCHEDULE = RetryConfig(initial_delay=1.0, backoff_factor=2.0, max_delay=60.0, jitter=False)


class Flaky:
    """A recovery function that fails ``failures`` times, then answers ``"ok"``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"down (call {self.calls})")
        return "ok"


class CountingRestart:
    """A restart hook that counts its runs and makes the service healthy again."""

    def __init__(self, state: dict[str, bool], *, heals: bool = True) -> None:
        self.state = state
        self.heals = heals
        self.runs = 0

    async def restart(self) -> None:
        self.runs += 1
        self.state["healthy"] = self.heals


def manager(clock: FakeClock, registry: ServiceRegistry | None = None) -> RecoveryManager:
    return RecoveryManager(
        registry=registry or ServiceRegistry(clock=clock),
        statistics=RecoveryStatistics(None),
        clock=clock,
        retry_config=SCHEDULE,
        probe_interval=0.5,
        ready_timeout=5.0,
    )


def restartable(
    clock: FakeClock, *, heals: bool = True, limit: RestartLimit | None = None
) -> tuple[ServiceRegistry, CountingRestart]:
    state = {"healthy": False}
    hook = CountingRestart(state, heals=heals)

    async def probe() -> ProbeResult:
        return ProbeResult(healthy=state["healthy"], detail="scripted")

    registry = ServiceRegistry(clock=clock)
    registry.allow_restart_hook(hook)
    registry.register(
        Service(name="cache", probe=probe, restart=hook, restart_limit=limit or RestartLimit())
    )
    return registry, hook


ERROR = ConnectionError("first failure")
CONTEXT = ErrorContext(operation="load_profile")


async def test_immediate_retry_succeeds_without_sleeping() -> None:
    """IMMEDIATE_RETRY tries again at once and returns the first success."""
    clock = FakeClock()
    flaky = Flaky(2)
    ok = await manager(clock).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, flaky, max_attempts=5
    )
    assert ok == (True, "ok")
    assert flaky.calls == 3
    assert clock.sleeps == []


async def test_immediate_retry_gives_up_with_the_last_error() -> None:
    """IMMEDIATE_RETRY stops after max_attempts and answers (False, last error)."""
    flaky = Flaky(10)
    success, last = await manager(FakeClock()).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, flaky, max_attempts=3
    )
    assert success is False
    assert isinstance(last, ConnectionError)
    assert str(last) == "down (call 3)"
    assert flaky.calls == 3


async def test_exponential_backoff_sleeps_the_retry_schedule() -> None:
    """EXPONENTIAL_BACKOFF sleeps 1, 2, 4 s (the library's schedule) before succeeding."""
    clock = FakeClock()
    flaky = Flaky(3)
    ok = await manager(clock).recover_from_error(
        ERROR, CONTEXT, "exponential_backoff", flaky, max_attempts=5
    )
    assert ok == (True, "ok")
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_exponential_backoff_failure_sleeps_only_between_attempts() -> None:
    """A failed EXPONENTIAL_BACKOFF sleeps max_attempts - 1 times and returns the last error."""
    clock = FakeClock()
    success, last = await manager(clock).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.EXPONENTIAL_BACKOFF, Flaky(10), max_attempts=4
    )
    assert (success, str(last)) == (False, "down (call 4)")
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_breaker_recovery_waits_for_half_open_then_probes_once() -> None:
    """CIRCUIT_BREAKER_RECOVERY sleeps until the breaker admits a probe, which closes it."""
    clock = FakeClock()
    breaker = get_circuit_breaker("ledger", failure_threshold=1, recovery_timeout=30.0, clock=clock)
    breaker.force_open()
    flaky = Flaky(0)
    context = ErrorContext(operation="post_entry", metadata={"breaker": "ledger"})
    ok = await manager(clock).recover_from_error(
        ERROR, context, RecoveryStrategy.CIRCUIT_BREAKER_RECOVERY, flaky
    )
    assert ok == (True, "ok")
    assert clock.sleeps == [30.0]
    assert flaky.calls == 1
    assert breaker.state.value == "closed"


async def test_breaker_recovery_failure_probes_once_per_open_period() -> None:
    """A service that stays down gets one probe per recovery timeout, never a burst."""
    clock = FakeClock()
    breaker = get_circuit_breaker("ledger", failure_threshold=1, recovery_timeout=30.0, clock=clock)
    breaker.force_open()
    flaky = Flaky(10)
    context = ErrorContext(operation="post_entry", metadata={"breaker": "ledger"})
    success, last = await manager(clock).recover_from_error(
        ERROR, context, RecoveryStrategy.CIRCUIT_BREAKER_RECOVERY, flaky, max_attempts=3
    )
    assert success is False
    assert isinstance(last, ConnectionError)
    assert flaky.calls == 3
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert breaker.state.value == "open"


async def test_service_restart_restarts_waits_for_probe_and_retries() -> None:
    """SERVICE_RESTART runs the hook, waits for the probe to pass, then retries the call."""
    clock = FakeClock()
    registry, hook = restartable(clock)
    flaky = Flaky(0)
    ok = await manager(clock, registry).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.SERVICE_RESTART, flaky, service="cache"
    )
    assert ok == (True, "ok")
    assert (hook.runs, flaky.calls) == (1, 1)


async def test_service_restart_fails_when_the_probe_never_passes() -> None:
    """A restarted service that never passes its probe is not called; the limit delays apply."""
    clock = FakeClock()
    registry, hook = restartable(clock, heals=False)
    flaky = Flaky(0)
    success, last = await manager(clock, registry).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.SERVICE_RESTART, flaky, max_attempts=2, service="cache"
    )
    assert success is False
    assert isinstance(last, ServiceUnavailableError)
    assert (hook.runs, flaky.calls) == (2, 0)
    # 5 s of probing every 0.5 s, then the 10 s back-off before the second restart.
    assert sum(clock.sleeps) == pytest.approx(5.0 + 5.0 + 5.0)


async def test_service_restart_without_a_hook_fails_at_once() -> None:
    """SERVICE_RESTART on an unregistered service answers (False, original error)."""
    success, last = await manager(FakeClock()).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.SERVICE_RESTART, Flaky(0), service="nowhere"
    )
    assert (success, last) == (False, ERROR)


async def test_graceful_degradation_returns_the_registered_result() -> None:
    """GRACEFUL_DEGRADATION answers with the degraded result registered for the operation."""
    recovery = manager(FakeClock())
    recovery.register_degraded_result("load_profile", {"profile": None, "degraded": True})
    ok = await recovery.recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.GRACEFUL_DEGRADATION, None
    )
    assert ok == (True, {"profile": None, "degraded": True})


async def test_graceful_degradation_without_a_result_fails() -> None:
    """Without a registered degraded result, GRACEFUL_DEGRADATION answers (False, error)."""
    ok = await manager(FakeClock()).recover_from_error(
        ERROR, CONTEXT, RecoveryStrategy.GRACEFUL_DEGRADATION, None
    )
    assert ok == (False, ERROR)


def test_sync_twin_succeeds_and_fails_like_the_async_one() -> None:
    """recover_from_error_sync runs sync functions with the same schedule and answers."""
    clock = FakeClock()
    recovery = manager(clock)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert recovery.recover_from_error_sync(
        ERROR, CONTEXT, RecoveryStrategy.EXPONENTIAL_BACKOFF, flaky
    ) == (True, "ok")
    assert clock.sleeps == [1.0, 2.0]

    def broken() -> Any:
        raise ConnectionError("still down")

    success, last = recovery.recover_from_error_sync(
        ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, broken, max_attempts=2
    )
    assert (success, str(last)) == (False, "still down")


async def test_sync_twin_works_inside_a_running_loop() -> None:
    """Called from async code, the sync twin runs on its own loop instead of failing."""
    recovery = manager(FakeClock())
    assert recovery.recover_from_error_sync(
        ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, lambda: 42
    ) == (True, 42)


async def test_bad_arguments_are_named() -> None:
    """An unknown strategy or a max_attempts below 1 is refused with a clear message."""
    recovery = manager(FakeClock())
    with pytest.raises(ValueError, match="unknown recovery strategy 'retry_forever'"):
        await recovery.recover_from_error(ERROR, CONTEXT, "retry_forever", Flaky(0))
    with pytest.raises(ValueError, match="max_attempts must be an int >= 1, got 0"):
        await recovery.recover_from_error(
            ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, Flaky(0), max_attempts=0
        )


async def test_cancellation_is_not_swallowed() -> None:
    """KeyboardInterrupt from the recovery function reaches the caller (it is not a failure)."""

    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await manager(FakeClock()).recover_from_error(
            ERROR, CONTEXT, RecoveryStrategy.IMMEDIATE_RETRY, interrupted
        )


async def test_testing_mode_skips_backoff_sleeps() -> None:
    """With outlast.testing.set_testing(True), EXPONENTIAL_BACKOFF retries without sleeping."""
    from outlast.testing import set_testing

    clock = FakeClock()
    with set_testing(True):
        ok = await manager(clock).recover_from_error(
            ERROR, CONTEXT, RecoveryStrategy.EXPONENTIAL_BACKOFF, Flaky(3)
        )
    assert ok == (True, "ok")
    assert clock.sleeps == []
