"""Gauges read from the process's breakers and bulkheads: their state and permits in use.

The core publishes breaker transitions but nothing per permit, so the in-use gauge (and
the state of a breaker that never changed) is sampled: a worker child calls
:func:`sample_resilience` after each task, and it reads the registries at most once per
``interval`` seconds (a cluster bulkhead's count is a Redis read).
"""

from __future__ import annotations

import logging
import threading

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.monitoring.metrics._families import families
from outlast.monitoring.metrics._listener import STATE_CODES
from outlast.resilience.breaker._breaker_registry import circuit_breakers
from outlast.resilience.bulkhead._bulkhead_registry import bulkheads

__all__ = ["Sampler", "sample_now"]

log = logging.getLogger("outlast.monitoring")


def sample_now() -> None:
    """Set the breaker-state and bulkhead-in-use gauges from this process's registries."""
    current = families()
    for name, breaker in circuit_breakers().items():
        current.breaker_state.labels(name).set(STATE_CODES.get(breaker.state.value, 0.0))
    for name, bulkhead in bulkheads().items():
        current.bulkhead_in_use.labels(name).set(bulkhead.active_count)


class Sampler:
    """:func:`sample_now`, at most once per ``interval`` seconds; never raises."""

    def __init__(self, interval: float, *, clock: Clock | None = None) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self.clock = clock or SYSTEM_CLOCK
        self._next = 0.0
        self._lock = threading.Lock()

    def maybe_sample(self) -> bool:
        """Sample if the interval has passed since the last sample; True if it did."""
        now = self.clock.monotonic()
        with self._lock:
            if now < self._next:
                return False
            self._next = now + self.interval
        try:
            sample_now()
        except Exception:
            log.exception("sampling breakers and bulkheads for metrics failed")
        return True
