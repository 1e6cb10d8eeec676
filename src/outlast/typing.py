"""The seams of Outlast as ``Protocol``s and aliases, for users who type their own parts."""

from __future__ import annotations

from outlast._clock import Clock
from outlast.resilience._events import EventListener, ResilienceEvent

__all__ = ["Clock", "EventListener", "ResilienceEvent"]
