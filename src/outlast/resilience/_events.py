"""Events the resilience layer publishes, and the listener registry monitoring subscribes to.

The resilience layer never imports monitoring, Celery or a store: it only publishes these
frozen events. A listener that raises is logged and skipped; it can never break a call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from outlast.resilience._listeners import Listeners

__all__ = [
    "BreakerTransition",
    "CallFailed",
    "EventListener",
    "FallbackUsed",
    "RecoveryFailed",
    "ResilienceEvent",
    "RetryScheduled",
    "add_listener",
    "publish",
    "remove_listener",
]

log = logging.getLogger("outlast.resilience")


@dataclass(frozen=True, slots=True)
class CallFailed:
    """One attempt of a protected call raised ``error``."""

    operation: str
    error: BaseException
    attempt: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A retry will run after ``delay`` seconds (attempt ``attempt`` just failed)."""

    operation: str
    error: BaseException
    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """Circuit breaker ``name`` moved from ``old_state`` to ``new_state``."""

    name: str
    old_state: str
    new_state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FallbackUsed:
    """The fallback answered for ``operation`` after ``error``."""

    operation: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class RecoveryFailed:
    """The recovery system gave up on ``service`` after ``attempts`` with ``strategy``;
    ``error`` is the last error it saw (monitoring records it as an unrecovered error)."""

    operation: str
    service: str
    strategy: str
    error: BaseException
    attempts: int
    reason: str = ""


ResilienceEvent = CallFailed | RetryScheduled | BreakerTransition | FallbackUsed | RecoveryFailed
EventListener = Callable[[ResilienceEvent], None]

_listeners: Listeners[EventListener] = Listeners()


def add_listener(listener: EventListener) -> Callable[[], None]:
    """Subscribe ``listener`` to every event; returns a function that unsubscribes it."""
    return _listeners.add(listener)


def remove_listener(listener: EventListener) -> None:
    """Unsubscribe ``listener``; unknown listeners are ignored."""
    _listeners.remove(listener)


def publish(event: ResilienceEvent) -> None:
    """Deliver ``event`` to every listener; a failing listener is logged, never raised."""
    for listener in _listeners.all:
        try:
            listener(event)
        except Exception:
            log.exception("resilience event listener %r failed", listener)
