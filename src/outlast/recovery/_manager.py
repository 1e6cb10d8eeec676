"""``RecoveryManager``: run a recovery strategy, then record, count, announce and clean up.

``recover_from_error`` never raises the recovery's own errors into the caller: it answers
``(True, result)`` or ``(False, last_error)``. Bad arguments (an unknown strategy, a
``max_attempts`` below 1) are the caller's bug and raise ``ValueError`` at once. Every
recovery is stored as one ``RecoveryAttempt`` (its ``attempts`` counts the tries), counted
in the shared statistics, announced as ``RecoveryFailed`` on the resilience event bus when
it fails, and followed by the matching callbacks. A store or Redis that does not answer is
logged, never raised. The sync twin runs the same core on the manager's private loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import RetryConfig, get_retry_config
from outlast.errors import ErrorContext
from outlast.recovery._callbacks import RecoveryCallback, RecoveryCallbacks
from outlast.recovery._outcome import RecoveryOutcome
from outlast.recovery._private_loop import PrivateLoop
from outlast.recovery._registry import ServiceRegistry
from outlast.recovery._statistics import RecoveryStatistics
from outlast.recovery._strategies import STRATEGIES, RecoveryJob, call_maybe_async
from outlast.recovery._strategy import RecoveryStrategy, strategy_of
from outlast.resilience._events import publish
from outlast.resilience.retry import _testmode
from outlast.store import Store

__all__ = ["RecoveryManager"]

log = logging.getLogger("outlast.recovery")

T = TypeVar("T")

StoreSource = Callable[[], Store | None]
StatisticsSource = Callable[[], RecoveryStatistics]


class RecoveryManager:
    """Runs recoveries for one process; see the module docstring for what it guarantees.

    ``store`` and ``statistics`` may be given, or built on first use by ``store_source``
    and ``statistics_source`` (the shared ``recovery_manager`` builds them from settings).
    ``retry_config`` sets EXPONENTIAL_BACKOFF's schedule (default: the retry profile named
    like the service); ``probe_interval`` paces probes and breaker re-tries;
    ``ready_timeout`` bounds the wait for a restarted service's probe to pass.
    """

    def __init__(
        self,
        *,
        registry: ServiceRegistry | None = None,
        store: Store | None = None,
        statistics: RecoveryStatistics | None = None,
        store_source: StoreSource | None = None,
        statistics_source: StatisticsSource | None = None,
        clock: Clock | None = None,
        retry_config: RetryConfig | None = None,
        probe_interval: float = 0.1,
        ready_timeout: float = 30.0,
    ) -> None:
        if not probe_interval > 0 or not ready_timeout > 0:
            raise ValueError("probe_interval and ready_timeout must be > 0")
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.registry = registry if registry is not None else ServiceRegistry(clock=self.clock)
        self.callbacks = RecoveryCallbacks()
        self.retry_config = retry_config
        self.probe_interval = probe_interval
        self.ready_timeout = ready_timeout
        self._store = store
        self._store_source = store_source if store is None else None
        self._statistics = statistics
        self._statistics_source = statistics_source
        self._degraded: dict[str, Callable[[], Any]] = {}
        self._operations: dict[str, Callable[[], Any]] = {}
        self._private_loop = PrivateLoop("outlast-recovery")

    # -- registration ----------------------------------------------------------------

    def register_degraded_result(
        self, operation: str, result: Any = None, *, factory: Callable[[], Any] | None = None
    ) -> None:
        """GRACEFUL_DEGRADATION answers ``operation`` with ``result`` (or ``factory()``,
        sync or async, when given)."""
        self._degraded[operation] = factory if factory is not None else (lambda: result)

    def register_operation(self, operation: str, fn: Callable[[], Any]) -> None:
        """The function ``recover_from_database_error`` re-runs for ``operation``."""
        self._operations[operation] = fn

    def operation(self, operation: str) -> Callable[[], Any] | None:
        """The function registered for ``operation``, or None."""
        return self._operations.get(operation)

    def add_recovery_callback(
        self,
        callback: RecoveryCallback,
        *,
        service: str | None = None,
        error_type: type[BaseException] | None = None,
    ) -> Callable[[], None]:
        """Run ``callback`` after recoveries of ``service`` / errors of ``error_type``."""
        return self.callbacks.add(callback, service=service, error_type=error_type)

    # -- recovering ------------------------------------------------------------------

    async def recover_from_error(
        self,
        error: BaseException,
        context: ErrorContext | None,
        strategy: RecoveryStrategy | str,
        recovery_function: Callable[[], Any] | None = None,
        max_attempts: int = 5,
        *,
        service: str | None = None,
    ) -> tuple[bool, Any]:
        """Recover from ``error`` with ``strategy``: ``(True, result)`` or ``(False, last_error)``.

        The service is ``service``, else ``context.metadata["service"]``, else the
        operation's name; CIRCUIT_BREAKER_RECOVERY uses ``context.metadata["breaker"]`` or
        that service name as the breaker's name.
        """
        chosen = strategy_of(strategy)
        job = self._job(error, context, recovery_function, max_attempts, service)
        started = self.clock.time()
        try:
            await STRATEGIES[chosen](job)
        except Exception as unexpected:  # a bug in a strategy must not reach the caller
            log.exception("recovery of %s with %s failed unexpectedly", job.service, chosen.value)
            job.failed(unexpected)
        outcome = _outcome(job, error, chosen)
        try:
            await self._after(outcome, started)
        except Exception:  # recording and cleanup never change the caller's answer
            log.exception("after the recovery of %s: reporting failed", job.service)
        return (True, job.result) if job.successful else (False, job.last_error)

    def recover_from_error_sync(
        self,
        error: BaseException,
        context: ErrorContext | None,
        strategy: RecoveryStrategy | str,
        recovery_function: Callable[[], Any] | None = None,
        max_attempts: int = 5,
        *,
        service: str | None = None,
    ) -> tuple[bool, Any]:
        """The sync twin: the same recovery, run on the manager's private event loop; a sync
        ``recovery_function`` runs in a worker thread so concurrent callers do not queue."""
        function = recovery_function
        if recovery_function is not None and not _is_async(recovery_function):
            function = functools.partial(asyncio.to_thread, recovery_function)
        coroutine = self.recover_from_error(
            error, context, strategy, function, max_attempts, service=service
        )
        return self._private_loop.run(coroutine)

    def _job(
        self,
        error: BaseException,
        context: ErrorContext | None,
        recovery_function: Callable[[], Any] | None,
        max_attempts: int,
        service: str | None,
    ) -> RecoveryJob:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if recovery_function is not None and not callable(recovery_function):
            raise TypeError(f"recovery_function must be callable, got {recovery_function!r}")
        operation = context.operation if context is not None else _name_of(recovery_function)
        metadata = context.metadata if context is not None else {}
        name = service or str(metadata.get("service") or operation)
        degraded = self._degraded.get(operation)
        return RecoveryJob(
            operation=operation,
            service=name,
            call=_async_call(recovery_function),
            max_attempts=max_attempts,
            clock=self.clock,
            registry=self.registry,
            retry_config=self.retry_config or get_retry_config(name),
            breaker_name=str(metadata.get("breaker") or name),
            degraded=_async_call(degraded),
            probe_interval=self.probe_interval,
            ready_timeout=self.ready_timeout,
            last_error=error,
            skip_sleeps=_testmode.current().enabled,
        )

    # -- after a recovery ------------------------------------------------------------

    async def _after(self, outcome: RecoveryOutcome, started: float) -> None:
        await self._record(outcome, started)
        statistics = self.statistics
        if statistics is not None:
            await statistics.record(
                strategy=outcome.strategy, service=outcome.service, successful=outcome.successful
            )
        if not outcome.successful:
            publish(outcome.failed_event())
        await self.callbacks.run(outcome)

    async def _record(self, outcome: RecoveryOutcome, started: float) -> None:
        store = self.store
        if store is None:
            return
        attempt = outcome.attempt_record(started_at=started, finished_at=self.clock.time())
        try:
            await store.record_recovery_attempt(attempt)
        except Exception as error:
            log.warning(
                "recovery of %s not recorded (%s: %s): %r",
                outcome.service,
                type(error).__name__,
                error,
                attempt,
            )

    # -- what the health report reads -------------------------------------------------

    @property
    def store(self) -> Store | None:
        """Where recoveries are recorded (built on first use from ``store_source``)."""
        if self._store is None and self._store_source is not None:
            source, self._store_source = self._store_source, None
            try:
                self._store = source()
            except Exception as error:
                log.warning("recovery store unavailable: %s: %s", type(error).__name__, error)
        return self._store

    @property
    def statistics(self) -> RecoveryStatistics | None:
        """Where recoveries are counted (built on first use from ``statistics_source``)."""
        if self._statistics is None and self._statistics_source is not None:
            source, self._statistics_source = self._statistics_source, None
            try:
                self._statistics = source()
            except Exception as error:
                log.warning("recovery statistics unavailable: %s: %s", type(error).__name__, error)
                self._statistics = RecoveryStatistics(None)
        return self._statistics

    async def get_recovery_stats(self) -> dict[str, Any]:
        """``total_recoveries``, ``successful_recoveries``, ``success_rate``, then the same
        ``by_strategy`` and ``by_service``, over every process sharing the Redis."""
        statistics = self.statistics or RecoveryStatistics(None)
        return await statistics.snapshot()

    async def health(self) -> dict[str, Any]:
        """The health report's ``recovery_system`` section."""
        return {"statistics": await self.get_recovery_stats()}


def _async_call(fn: Callable[[], Any] | None) -> Callable[[], Any] | None:
    if fn is None:
        return None

    async def call() -> Any:
        return await call_maybe_async(fn)

    return call


def _name_of(fn: Callable[[], Any] | None) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "recovery"


def _outcome(job: RecoveryJob, error: BaseException, strategy: RecoveryStrategy) -> RecoveryOutcome:
    return RecoveryOutcome(
        operation=job.operation,
        service=job.service,
        strategy=strategy.value,
        error=error,
        successful=job.successful,
        attempts=job.attempts,
        result=job.result if job.successful else None,
        last_error=None if job.successful else job.last_error,
        reason=job.reason,
        limit_hit=job.limit_hit,
        errors=tuple(job.errors),
    )


def _is_async(fn: Callable[[], Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
