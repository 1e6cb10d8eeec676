"""Successful calls, counted for listeners (monitoring) on the hot path.

A success carries no error, so it is not a ``ResilienceEvent``: building a frozen event on
every successful call would cost more than the count is worth. The core calls
:func:`note_success` with the operation name; listeners get that name. Like
``_events``, a listener that raises is logged and skipped, never raised into a call, and
this module imports nothing of monitoring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["SuccessListener", "add_success_listener", "note_success", "remove_success_listener"]

log = logging.getLogger("outlast.resilience")

SuccessListener = Callable[[str], None]

_listeners: tuple[SuccessListener, ...] = ()
_lock = threading.Lock()


def add_success_listener(listener: SuccessListener) -> Callable[[], None]:
    """Call ``listener(operation)`` after every successful attempt; returns the unsubscriber."""
    global _listeners
    with _lock:
        _listeners = (*_listeners, listener)
    return lambda: remove_success_listener(listener)


def remove_success_listener(listener: SuccessListener) -> None:
    """Stop calling ``listener``; unknown listeners are ignored."""
    global _listeners
    with _lock:
        _listeners = tuple(x for x in _listeners if x is not listener)


def note_success(operation: str) -> None:
    """One attempt of ``operation`` succeeded."""
    for listener in _listeners:
        try:
            listener(operation)
        except Exception:
            log.exception("success listener %r failed", listener)
