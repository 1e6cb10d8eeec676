"""``@operation``: register a sync or async function as a resilient Celery task.

The registration records an :class:`OperationSpec` (the policy the task runs under) and
routes the task name to its queue in the route table. The function itself is returned
unchanged, so the application can still call it directly.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from outlast.config import RetryConfig, get_retry_config
from outlast.errors import ConfigurationError
from outlast.workers._queues import add_route

__all__ = ["OperationSpec", "operation", "operations", "spec_for"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationSpec:
    """How one registered operation runs: its queue, retries, breaker, bulkhead, timeout.

    ``breaker_ignores`` are errors that say nothing about the breaker's service (a declined
    payment, bad input): they count as neither success nor failure for it.
    ``max_worker_losses`` (None: the setting) is how many of a message's starts may die
    with their worker process before the message is dead-lettered instead of run again.
    """

    name: str
    fn: Callable[..., Any]
    queue: str
    retry: RetryConfig
    circuit_breaker: str | None = None
    breaker_ignores: tuple[type[BaseException], ...] = ()
    bulkhead: str | None = None
    idempotent: bool = False
    timeout: float | None = None
    max_worker_losses: int | None = None

    signature: inspect.Signature = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature", inspect.signature(self.fn))

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


_specs: dict[str, OperationSpec] = {}
_lock = threading.Lock()


def operation(
    name: str,
    *,
    queue: str = "operations",
    retry: RetryConfig | str | None = None,
    circuit_breaker: str | None = None,
    breaker_ignores: tuple[type[BaseException], ...] = (),
    bulkhead: str | None = None,
    idempotent: bool = False,
    timeout: float | None = None,
    max_worker_losses: int | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as the task ``name`` (see :class:`OperationSpec`).

    ``retry`` takes a ``RetryConfig`` or a retry profile name (default: the profile named
    like the operation, else the default profile).
    """

    def register(fn: F) -> F:
        spec = OperationSpec(
            name=name,
            fn=fn,
            queue=queue,
            retry=_retry(retry, name),
            circuit_breaker=circuit_breaker,
            breaker_ignores=_error_types(breaker_ignores, name),
            bulkhead=bulkhead,
            idempotent=idempotent,
            timeout=timeout,
            max_worker_losses=_losses(max_worker_losses, name),
        )
        _register(spec)
        return fn

    return register


def _error_types(
    value: tuple[type[BaseException], ...], name: str
) -> tuple[type[BaseException], ...]:
    errors = tuple(value)
    for error in errors:
        if not (isinstance(error, type) and issubclass(error, BaseException)):
            raise ConfigurationError(
                f"operation {name!r}: breaker_ignores takes exception classes, not {error!r}"
            )
    return errors


def _losses(value: int | None, name: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ConfigurationError(
            f"operation {name!r}: max_worker_losses must be an int >= 1, got {value!r}"
        )
    return value


def _retry(value: RetryConfig | str | None, name: str) -> RetryConfig:
    if isinstance(value, RetryConfig):
        return value
    return get_retry_config(value or name)


def _register(spec: OperationSpec) -> None:
    # Imported here: the task module imports this one for spec_for.
    from outlast.workers.execution._task import register_task

    with _lock:
        existing = _specs.get(spec.name)
        if existing is not None and existing.fn is not spec.fn:
            raise ConfigurationError(f"operation {spec.name!r} is already registered")
        add_route(spec.name, spec.queue)
        _specs[spec.name] = spec
    register_task(spec.name)


def spec_for(name: str) -> OperationSpec:
    """The spec of the registered operation ``name``."""
    spec = _specs.get(name)
    if spec is None:
        raise ConfigurationError(f"no operation named {name!r} is registered")
    return spec


def operations() -> dict[str, OperationSpec]:
    """Every registered operation by name."""
    return dict(_specs)
