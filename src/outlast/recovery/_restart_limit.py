"""How often a service may be restarted: a burst limit per window and a growing delay.

The defaults come from the two anchors that bound crash loops in production:

- **burst 5 per window**: systemd's ``StartLimitBurst=5``; past it a unit fails with
  ``start-limit-hit`` and is not started again by itself.
- **delay 10 s, doubling, capped at 300 s** before each restart after the first: the
  Kubernetes CrashLoopBackOff schedule (10 s, 20 s, 40 s, ... 5 min).
- **window 600 s, reset after 600 s healthy**: Kubernetes forgets the back-off after 10
  minutes of clean running. systemd's 10 s window is too short here: with the growing
  delay, five restarts already span 150 s, so a 10 s window would never fill.

The first restart of a service runs at once. ``RestartLimiter`` only decides (and
remembers what it allowed); it never sleeps, restarts or reads a clock by itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["LIMIT_HIT", "RestartLimit", "RestartLimiter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartLimit:
    """The restart policy of one service (see the module docstring for the defaults)."""

    burst: int = 5
    window: float = 600.0
    initial_delay: float = 10.0
    backoff_factor: float = 2.0
    max_delay: float = 300.0
    reset_after: float = 600.0

    def __post_init__(self) -> None:
        if not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"RestartLimit.burst must be an int >= 1, got {self.burst!r}")
        for name in ("window", "initial_delay", "max_delay", "reset_after"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"RestartLimit.{name} must be >= 0, got {value!r}")
        if not self.backoff_factor >= 1:
            raise ValueError(
                f"RestartLimit.backoff_factor must be >= 1, got {self.backoff_factor!r}"
            )

    def delay_before(self, restart_number: int) -> float:
        """The wait before restart number ``restart_number`` (1-based) since the last reset."""
        if restart_number <= 1:
            return 0.0
        steps = restart_number - 2
        delay = self.initial_delay
        for _ in range(steps):
            delay *= self.backoff_factor
            if delay >= self.max_delay:
                return self.max_delay
        return min(delay, self.max_delay)


LIMIT_HIT = -1.0
"""What ``RestartLimiter.decide`` answers when the burst limit is reached."""


class RestartLimiter:
    """Remembers one service's restarts and decides whether the next may run, and when."""

    __slots__ = ("_healthy_since", "_history", "_last", "_streak", "limit")

    def __init__(self, limit: RestartLimit | None = None) -> None:
        self.limit = limit if limit is not None else RestartLimit()
        self._history: deque[float] = deque()
        self._streak = 0  # restarts since the last healthy period: drives the delay
        self._healthy_since: float | None = None
        self._last: float | None = None

    @property
    def restarts(self) -> int:
        """Restarts since the last reset (what the growing delay counts)."""
        return self._streak

    def decide(self, now: float) -> float:
        """Seconds to wait before restarting (0.0: now), or :data:`LIMIT_HIT`."""
        self._forget_before(now - self.limit.window)
        if len(self._history) >= self.limit.burst:
            return LIMIT_HIT
        if self._last is None or self._streak == 0:
            return 0.0
        due = self._last + self.limit.delay_before(self._streak + 1)
        return max(0.0, due - now)

    def restarted(self, now: float) -> None:
        """Record a restart run at ``now``."""
        self._history.append(now)
        self._last = now
        self._streak += 1
        self._healthy_since = None

    def observed(self, *, healthy: bool, now: float) -> None:
        """Record a probe result; a healthy period of ``reset_after`` forgets the restarts."""
        if not healthy:
            self._healthy_since = None
            return
        if self._healthy_since is None:
            self._healthy_since = now
        if now - self._healthy_since >= self.limit.reset_after:
            self._history.clear()
            self._streak = 0

    def snapshot(self, *, shift: float = 0.0) -> dict[str, Any]:
        """What this limiter remembers, its times moved by ``shift`` (to another clock)."""
        since, last = self._healthy_since, self._last
        return {
            "history": [t + shift for t in self._history],
            "streak": self._streak,
            "healthy_since": None if since is None else since + shift,
            "last": None if last is None else last + shift,
        }

    def restore(self, saved: dict[str, Any], *, shift: float = 0.0) -> None:
        """Remember what ``snapshot`` gave (taken by another process), its times moved by
        ``shift``; a malformed snapshot is ignored."""
        try:
            history = [float(t) + shift for t in saved["history"]]
            streak = int(saved["streak"])
            since, last = saved["healthy_since"], saved["last"]
        except (KeyError, TypeError, ValueError):
            return
        self._history = deque(history)
        self._streak = streak
        self._healthy_since = None if since is None else float(since) + shift
        self._last = None if last is None else float(last) + shift

    def _forget_before(self, cutoff: float) -> None:
        while self._history and self._history[0] <= cutoff:
            self._history.popleft()
