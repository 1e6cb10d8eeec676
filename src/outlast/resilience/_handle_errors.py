"""``@handle_errors``: validation, bulkhead, breaker, retry, timeout, fallback and
user-friendly errors around one sync or async function.

Order of the layers, outermost first::

    translation -> validation -> fallback -> retry -> bulkhead -> breaker -> timeout -> fn

Every attempt takes its own bulkhead permit and passes its own breaker check, so a retry
never holds a permit while it sleeps, an open breaker stops the retries at once, and each
failed attempt counts against the breaker. Names of breakers, bulkheads, retry profiles
and timeouts resolve through ``outlast.config``'s tables.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import Jitter, RetryConfig, get_retry_config, get_timeout_config
from outlast.errors import ErrorContext
from outlast.resilience._attempt import Attempt
from outlast.resilience._fallback import check_fallback, fallback_applies, note_fallback
from outlast.resilience._messages import translate_error
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.breaker._breaker_registry import get_circuit_breaker
from outlast.resilience.bulkhead._bulkhead import Bulkhead
from outlast.resilience.bulkhead._bulkhead_registry import get_bulkhead
from outlast.resilience.retry._retry import run_async, run_sync
from outlast.resilience.validation._validation import validate_input

__all__ = ["handle_errors"]

# Without a retry_config a call is attempted once; failures are still published.
_ONCE = RetryConfig(max_attempts=1, jitter=Jitter.NONE)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(
    *,
    operation_name: str | None = None,
    circuit_breaker: str | CircuitBreaker | None = None,
    bulkhead: str | Bulkhead | None = None,
    retry_config: RetryConfig | str | None = None,
    timeout: float | str | None = None,
    fallback_func: Callable[..., Any] | None = None,
    user_friendly_errors: bool = False,
    input_schema: Mapping[str, Mapping[str, Any]] | None = None,
    strict_input: bool = False,
    clock: Clock | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Protect a function with the resilience layers it is given.

    ``circuit_breaker`` and ``bulkhead`` take an instance or a name (resolved with
    ``get_circuit_breaker``/``get_bulkhead``); ``retry_config`` a ``RetryConfig`` or a retry
    profile name; ``timeout`` seconds per attempt or a timeout profile name. Without a
    ``retry_config`` the call is attempted once. ``input_schema`` validates the bound
    arguments with ``validate_input`` and passes the sanitized values on. With
    ``user_friendly_errors`` every error leaving the call is an ``OutlastError`` carrying
    ``user_message`` and ``error_code``, the original chained as ``__cause__``.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        operation = operation_name or fn.__qualname__
        is_async = inspect.iscoroutinefunction(fn)
        check_fallback(fallback_func, is_async=is_async, operation=operation)
        guard = _Guard(
            operation=operation,
            fn=fn,
            breaker=_breaker(circuit_breaker),
            bulkhead=_bulkhead(bulkhead),
            retry=_retry(retry_config),
            timeout=_timeout(timeout),
            fallback=fallback_func,
            translate=user_friendly_errors,
            schema=input_schema,
            strict=strict_input,
            clock=clock or SYSTEM_CLOCK,
        )
        wrapper = guard.async_wrapper() if is_async else guard.sync_wrapper()
        return cast(Callable[P, R], functools.wraps(fn)(wrapper))

    return decorate


def _breaker(value: str | CircuitBreaker | None) -> CircuitBreaker | None:
    return get_circuit_breaker(value) if isinstance(value, str) else value


def _bulkhead(value: str | Bulkhead | None) -> Bulkhead | None:
    return get_bulkhead(value) if isinstance(value, str) else value


def _retry(value: RetryConfig | str | None) -> RetryConfig | None:
    return get_retry_config(value) if isinstance(value, str) else value


def _timeout(value: float | str | None) -> float | None:
    return get_timeout_config(value) if isinstance(value, str) else value


class _Guard:
    """The resolved layers of one decorated function, and its sync and async drivers."""

    def __init__(
        self,
        *,
        operation: str,
        fn: Callable[..., Any],
        breaker: CircuitBreaker | None,
        bulkhead: Bulkhead | None,
        retry: RetryConfig | None,
        timeout: float | None,
        fallback: Callable[..., Any] | None,
        translate: bool,
        schema: Mapping[str, Mapping[str, Any]] | None,
        strict: bool,
        clock: Clock,
    ) -> None:
        self.operation = operation
        self.fn = fn
        self.retry = retry if retry is not None else _ONCE
        self.fallback = fallback
        self.translate = translate
        self.schema = schema
        self.strict = strict
        self.clock = clock
        self.signature = inspect.signature(fn) if schema is not None else None
        self.attempt = Attempt(
            operation=operation, breaker=breaker, bulkhead=bulkhead, timeout=timeout
        )

    def sync_wrapper(self) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                if self.schema is not None:
                    args, kwargs = self._validated(args, kwargs)
                return self._call_sync(args, kwargs)
            except Exception as error:
                outgoing = self._outgoing(error)
                if outgoing is error:
                    raise
                raise outgoing from error

        return wrapper

    def async_wrapper(self) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                if self.schema is not None:
                    args, kwargs = self._validated(args, kwargs)
                return await self._call_async(args, kwargs)
            except Exception as error:
                outgoing = self._outgoing(error)
                if outgoing is error:
                    raise
                raise outgoing from error

        return wrapper

    def _call_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def once(timeout: float | None) -> Any:
            return self.attempt.run_sync(self.fn, args, kwargs, timeout)

        try:
            return run_sync(once, self.retry, clock=self.clock, operation=self.operation)
        except Exception as error:
            if self.fallback is None or not fallback_applies(error):
                raise
            note_fallback(self.operation, error)
            return self.fallback(*args, **kwargs)

    async def _call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def once(timeout: float | None) -> Awaitable[Any]:
            return self.attempt.run_async(self.fn, args, kwargs, timeout)

        try:
            return await run_async(once, self.retry, clock=self.clock, operation=self.operation)
        except Exception as error:
            if self.fallback is None or not fallback_applies(error):
                raise
            note_fallback(self.operation, error)
            result = self.fallback(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

    def _validated(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        assert self.signature is not None
        assert self.schema is not None
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        context = ErrorContext(operation=self.operation)
        clean = validate_input(dict(bound.arguments), self.schema, context, strict=self.strict)
        bound.arguments.update(clean)
        return bound.args, bound.kwargs

    def _outgoing(self, error: Exception) -> Exception:
        if not self.translate:
            return error
        return translate_error(error, operation=self.operation)
