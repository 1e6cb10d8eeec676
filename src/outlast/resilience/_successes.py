"""Successful calls, counted for listeners (monitoring) on the hot path.

A success carries no error, so it is not a ``ResilienceEvent``: building a frozen event on
every successful call would cost more than the count is worth. The core calls
:func:`note_success` with the operation name; listeners get that name. Duration listeners
also get how long the call ran (from :func:`timer`, taken after admission); while none is
registered, no clock is read. Like ``_events``, a listener that raises is logged and
skipped, never raised into a call, and this module imports nothing of monitoring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from outlast.resilience._listeners import Listeners

__all__ = [
    "DurationListener",
    "SuccessListener",
    "add_duration_listener",
    "add_success_listener",
    "note_success",
    "remove_duration_listener",
    "remove_success_listener",
    "timer",
]

log = logging.getLogger("outlast.resilience")

SuccessListener = Callable[[str], None]
DurationListener = Callable[[str, float], None]

_listeners: Listeners[SuccessListener] = Listeners()
_timed: Listeners[DurationListener] = Listeners()


def add_success_listener(listener: SuccessListener) -> Callable[[], None]:
    """Call ``listener(operation)`` after every successful attempt; returns the unsubscriber."""
    return _listeners.add(listener)


def remove_success_listener(listener: SuccessListener) -> None:
    """Stop calling ``listener``; unknown listeners are ignored."""
    _listeners.remove(listener)


def add_duration_listener(listener: DurationListener) -> Callable[[], None]:
    """Call ``listener(operation, seconds)`` after every timed successful attempt; returns
    the unsubscriber."""
    return _timed.add(listener)


def remove_duration_listener(listener: DurationListener) -> None:
    """Stop calling ``listener``; unknown listeners are ignored."""
    _timed.remove(listener)


def timer() -> float:
    """When a call starts: the time to hand to :func:`note_success`, or 0.0 (no clock read)
    while no duration listener is registered."""
    return time.perf_counter() if _timed.all else 0.0


def note_success(operation: str, started: float = 0.0) -> None:
    """One attempt of ``operation`` succeeded; it started at ``started`` (:func:`timer`)."""
    for listener in _listeners.all:
        try:
            listener(operation)
        except Exception:
            log.exception("success listener %r failed", listener)
    timed_listeners = _timed.all
    if started and timed_listeners:
        seconds = time.perf_counter() - started
        for timed in timed_listeners:
            try:
                timed(operation, seconds)
            except Exception:
                log.exception("duration listener %r failed", timed)
