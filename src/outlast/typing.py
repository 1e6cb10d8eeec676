"""The seams of Outlast as ``Protocol``s and aliases, for users who type their own parts.

``Clock`` is what every time read and sleep goes through; ``BreakerStateBackend`` and
``PermitLedger`` are where a breaker's state and a bulkhead's permits live;
``EventListener`` receives the ``ResilienceEvent``s the resilience layer publishes.
"""

from __future__ import annotations

from outlast._clock import Clock
from outlast.resilience._events import EventListener, ResilienceEvent
from outlast.resilience.breaker._breaker_state import BreakerStateBackend
from outlast.resilience.bulkhead._permits import PermitLedger

__all__ = ["BreakerStateBackend", "Clock", "EventListener", "PermitLedger", "ResilienceEvent"]
