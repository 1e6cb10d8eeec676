"""The bounded in-process buffer between callers and the flusher.

Callers add captured errors and count successes and other tallies; the flusher takes them
in batches. Adding never blocks on I/O (one short lock) and never grows past ``capacity``
captures: beyond it a capture is dropped and counted, never lost silently.

Never does I/O or builds events: that is the flusher's work, off the caller's path.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from outlast.monitoring._event import Capture

__all__ = ["CaptureBuffer", "Taken"]


@dataclass(frozen=True, slots=True)
class Taken:
    """What the flusher took: captures, success counts by operation, tallies
    (counter name -> count), how many captures were dropped since the last take, and slow
    call counts by operation."""

    captures: list[Capture]
    successes: dict[str, int]
    tallies: dict[str, int]
    dropped: int
    slow: dict[str, int] = field(default_factory=dict)


class CaptureBuffer:
    """Captures, success counts and tallies waiting for the flusher."""

    def __init__(self, *, capacity: int, on_first: Callable[[], None]) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._on_first = on_first
        self._idle = True
        self._lock = threading.Lock()
        self._captures: deque[Capture] = deque()
        # deque.append and popleft are atomic: successes are noted without taking the lock.
        self._success_log: deque[str] = deque()
        self._slow_log: deque[str] = deque()
        self._tallies: dict[str, int] = {}
        self._dropped = 0
        self.dropped_total = 0

    def add(self, capture: Capture) -> bool:
        """Queue ``capture``; False (and counted) if the buffer is full."""
        with self._lock:
            if len(self._captures) >= self.capacity:
                self._dropped += 1
                self.dropped_total += 1
                return False
            self._captures.append(capture)
        if self._idle:
            self._wake_flusher()
        return True

    def add_success(self, operation: str) -> None:
        """Count one successful call of ``operation`` (lock-free: on every call's path)."""
        self._success_log.append(operation)
        if self._idle:
            self._wake_flusher()

    def add_slow(self, operation: str) -> None:
        """Count one slow call of ``operation`` (lock-free, as successes)."""
        self._slow_log.append(operation)
        if self._idle:
            self._wake_flusher()

    def add_tally(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the tally ``name`` (breaker transitions, fallbacks...)."""
        with self._lock:
            self._tallies[name] = self._tallies.get(name, 0) + count
        if self._idle:
            self._wake_flusher()

    def take(self, limit: int) -> Taken:
        """Remove and return up to ``limit`` captures with every count gathered so far."""
        with self._lock:
            count = min(limit, len(self._captures))
            captures = [self._captures.popleft() for _ in range(count)]
            taken = Taken(captures, {}, self._tallies, self._dropped)
            self._tallies, self._dropped = {}, 0
        successes = taken.successes
        for _ in range(len(self._success_log)):
            operation = self._success_log.popleft()
            successes[operation] = successes.get(operation, 0) + 1
        slow = taken.slow
        for _ in range(len(self._slow_log)):
            operation = self._slow_log.popleft()
            slow[operation] = slow.get(operation, 0) + 1
        return taken

    def __len__(self) -> int:
        return len(self._captures)

    def has_counts(self) -> bool:
        """Whether successes, slow calls, tallies or drops wait to be flushed."""
        return bool(self._success_log or self._slow_log or self._tallies or self._dropped)

    def reset_after_fork(self) -> None:
        """Forget every item: in a forked child (the parent flushes them), or on reset."""
        self._lock = threading.Lock()
        self._captures = deque()
        self._success_log = deque()
        self._slow_log = deque()
        self._tallies, self._dropped = {}, 0
        self._idle = True

    def _wake_flusher(self) -> None:
        self._idle = False
        self._on_first()
