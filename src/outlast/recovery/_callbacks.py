"""Recovery callbacks: cleanup that runs after a recovery, chosen by service or error type.

A callback (sync or async) receives the ``RecoveryOutcome``. One that raises is logged and
skipped: a cleanup can never turn a recovery into a failure or raise into the caller.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from outlast.recovery._outcome import RecoveryOutcome

__all__ = ["RecoveryCallback", "RecoveryCallbacks"]

log = logging.getLogger("outlast.recovery")

RecoveryCallback = Callable[[RecoveryOutcome], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class _Entry:
    callback: RecoveryCallback
    service: str | None
    error_type: type[BaseException] | None

    def matches(self, outcome: RecoveryOutcome) -> bool:
        if self.service is not None and self.service != outcome.service:
            return False
        return self.error_type is None or isinstance(outcome.error, self.error_type)


class RecoveryCallbacks:
    """The callbacks of one recovery manager."""

    def __init__(self) -> None:
        self._entries: tuple[_Entry, ...] = ()
        self._lock = threading.Lock()

    def add(
        self,
        callback: RecoveryCallback,
        *,
        service: str | None = None,
        error_type: type[BaseException] | None = None,
    ) -> Callable[[], None]:
        """Run ``callback`` after recoveries of ``service`` and/or errors of ``error_type``
        (both None: after every recovery); returns a function that removes it."""
        if not callable(callback):
            raise TypeError(f"a recovery callback must be callable, got {callback!r}")
        if error_type is not None and not (
            isinstance(error_type, type) and issubclass(error_type, BaseException)
        ):
            raise TypeError(f"error_type must be an exception class, got {error_type!r}")
        entry = _Entry(callback, service, error_type)
        with self._lock:
            self._entries = (*self._entries, entry)
        return lambda: self._remove(entry)

    def _remove(self, entry: _Entry) -> None:
        with self._lock:
            self._entries = tuple(e for e in self._entries if e is not entry)

    async def run(self, outcome: RecoveryOutcome) -> None:
        """Run every matching callback in registration order; errors are logged."""
        for entry in self._entries:
            if not entry.matches(outcome):
                continue
            try:
                returned = entry.callback(outcome)
                if inspect.isawaitable(returned):
                    await returned
            except Exception:
                log.exception("recovery callback %r failed", entry.callback)
