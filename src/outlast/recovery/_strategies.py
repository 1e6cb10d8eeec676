"""The five recovery strategies, each an async function over one ``RecoveryJob``.

A strategy calls ``job.attempt()`` for each try and sleeps only through ``job.clock``; it
returns when an attempt succeeds, when its attempts are spent, or when it cannot go on
(``job.reason`` says why). It never raises an ``Exception``: attempts catch them.
Cancellation and interpreter exit pass through untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from outlast._clock import Clock
from outlast.config import RetryConfig
from outlast.errors import CircuitBreakerOpenError, ServiceUnavailableError
from outlast.recovery._registry import ServiceRegistry
from outlast.recovery._restart_hooks import RestartFailedError
from outlast.recovery._strategy import RecoveryStrategy
from outlast.resilience import get_circuit_breaker
from outlast.resilience.retry._backoff import Backoff

__all__ = ["STRATEGIES", "RecoveryJob", "call_maybe_async"]


async def call_maybe_async(fn: Callable[[], Any]) -> Any:
    """``fn()``, awaited when it returns an awaitable."""
    value = fn()
    if inspect.isawaitable(value):
        value = await value
    return value


@dataclass(slots=True, kw_only=True)
class RecoveryJob:
    """One recovery in progress: what to call, the limits, and the tally so far."""

    operation: str
    service: str
    call: Callable[[], Awaitable[Any]] | None
    max_attempts: int
    clock: Clock
    registry: ServiceRegistry
    retry_config: RetryConfig
    breaker_name: str
    degraded: Callable[[], Awaitable[Any]] | None
    probe_interval: float
    ready_timeout: float
    last_error: BaseException
    attempts: int = 0
    successful: bool = False
    result: Any = None
    reason: str = ""
    limit_hit: bool = False
    skip_sleeps: bool = False
    errors: list[str] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        """A backoff sleep on the job's clock, skipped while ``outlast.testing.set_testing``
        is on (waits for a breaker or a probe are never skipped: they wait on the service)."""
        if not self.skip_sleeps:
            await self.clock.asleep(seconds)

    async def attempt(self) -> bool:
        """Run the recovery function once; True (and the result kept) when it succeeds."""
        self.attempts += 1
        if self.call is None:
            self.reason = "no recovery function was given"
            return False
        try:
            self.result = await self.call()
        except Exception as error:
            self.failed(error)
            return False
        self.successful = True
        return True

    def failed(self, error: BaseException) -> None:
        """Keep ``error`` as the last error (and a short note of it)."""
        self.last_error = error
        if len(self.errors) < 20:
            self.errors.append(f"{type(error).__name__}: {error}"[:200])


async def immediate_retry(job: RecoveryJob) -> None:
    """Try again at once, up to ``max_attempts`` times."""
    for _ in range(job.max_attempts):
        if await job.attempt() or job.call is None:
            return


async def exponential_backoff(job: RecoveryJob) -> None:
    """Try, then sleep the retry config's schedule (strategy, cap, jitter) between tries."""
    backoff = Backoff(job.retry_config)
    for number in range(1, job.max_attempts + 1):
        if await job.attempt() or job.call is None:
            return
        if number < job.max_attempts:
            await job.sleep(backoff.next_delay(number))


async def circuit_breaker_recovery(job: RecoveryJob) -> None:
    """Wait until the named breaker admits a probe, then try through it.

    Each try waits the breaker's ``retry_after`` (at least ``probe_interval`` after a
    failure), so the service sees one probe per half-open window, never a burst.
    """
    call = job.call
    if call is None:
        job.reason = "no recovery function was given"
        return
    breaker = get_circuit_breaker(job.breaker_name)
    for number in range(1, job.max_attempts + 1):
        wait = breaker.retry_after
        if wait > 0:
            await job.clock.asleep(wait)
        elif number > 1:
            await job.clock.asleep(job.probe_interval)
        job.attempts += 1
        try:
            job.result = await breaker.call(call)
        except CircuitBreakerOpenError as rejected:
            # The service's own error stays the last error; the rejection only explains.
            job.reason = f"breaker {breaker.name!r} rejected the probe: {rejected}"
            continue
        except Exception as error:
            job.failed(error)
            continue
        job.successful = True
        return


async def service_restart(job: RecoveryJob) -> None:
    """Restart the service through its hook (within its restart limit), wait for its probe
    to pass, heal its clients, then try again."""
    for _ in range(job.max_attempts):
        decision = await job.registry.restart(job.service)
        if decision.refused:
            job.reason = decision.reason
            job.limit_hit = decision.reason == "restart limit hit"
            return
        if not decision.restarted:
            job.attempts += 1
            job.failed(RestartFailedError(decision.reason))
            continue
        if not await _healthy_in_time(job):
            job.attempts += 1
            job.failed(ServiceUnavailableError(f"{job.service} did not pass its probe in time"))
            continue
        await job.registry.heal(job.service)
        if await job.attempt() or job.call is None:
            return


async def _healthy_in_time(job: RecoveryJob) -> bool:
    """Probe every ``probe_interval`` until healthy (True) or ``ready_timeout`` passes."""
    deadline = job.clock.monotonic() + job.ready_timeout
    while True:
        if (await job.registry.probe(job.service)).healthy:
            return True
        if job.clock.monotonic() >= deadline:
            return False
        await job.clock.asleep(job.probe_interval)


async def graceful_degradation(job: RecoveryJob) -> None:
    """Answer with the degraded result registered for the operation."""
    job.attempts += 1
    if job.degraded is None:
        job.reason = f"no degraded result is registered for {job.operation!r}"
        return
    try:
        job.result = await job.degraded()
    except Exception as error:
        job.failed(error)
        return
    job.successful = True


STRATEGIES: dict[RecoveryStrategy, Callable[[RecoveryJob], Awaitable[None]]] = {
    RecoveryStrategy.IMMEDIATE_RETRY: immediate_retry,
    RecoveryStrategy.EXPONENTIAL_BACKOFF: exponential_backoff,
    RecoveryStrategy.CIRCUIT_BREAKER_RECOVERY: circuit_breaker_recovery,
    RecoveryStrategy.SERVICE_RESTART: service_restart,
    RecoveryStrategy.GRACEFUL_DEGRADATION: graceful_degradation,
}
