"""A service the recovery system looks after: its probe, heal routine and restart hook.

``Service`` is the frozen description; it never runs anything by itself. The registry
(``_registry``) runs probes, heals and restarts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from outlast.recovery._managed_client import ManagedClient
from outlast.recovery._probe import DEFAULT_PROBE_TIMEOUT, Probe
from outlast.recovery._restart_hooks import RestartHook
from outlast.recovery._restart_limit import RestartLimit

__all__ = ["Healer", "Service"]

Healer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """``name`` with a ``probe``, an optional ``heal`` (reconnect without a restart), an
    optional ``restart`` hook and its ``restart_limit``; ``client`` is the shared client
    healing replaces, and ``heal_on`` the errors that, raised by a task, mean that client
    must be replaced before the task's retry."""

    name: str
    probe: Probe
    heal: Healer | None = None
    restart: RestartHook | None = None
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    restart_limit: RestartLimit = field(default_factory=RestartLimit)
    client: ManagedClient[Any] | None = None
    heal_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Service.name must be a non-empty string, got {self.name!r}")
        if not callable(self.probe):
            raise TypeError(f"Service {self.name!r}: probe must be callable")
        if self.heal is not None and not callable(self.heal):
            raise TypeError(f"Service {self.name!r}: heal must be callable or None")
        if self.restart is not None and not isinstance(self.restart, RestartHook):
            raise TypeError(f"Service {self.name!r}: restart must be a RestartHook or None")
        if not self.probe_timeout > 0:
            raise ValueError(f"Service {self.name!r}: probe_timeout must be > 0")
