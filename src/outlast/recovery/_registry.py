"""``ServiceRegistry``: the services of this process, and probing, healing and restarting them.

Restarts go through each service's ``RestartLimiter``; a restart the limit refuses is not
run (the caller records a recovery failure), and concurrent requests to restart one service
share one restart. Only allow-listed restart hooks can be
registered. Nothing here raises a probe's or a healer's error: answers are ``ProbeResult``s
and ``RestartDecision``s.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.errors import ConfigurationError
from outlast.recovery._probe import ProbeResult, run_probe
from outlast.recovery._restart_hooks import RestartHook
from outlast.recovery._restart_limit import LIMIT_HIT, RestartLimiter
from outlast.recovery._service import Service

__all__ = ["RestartDecision", "ServiceRegistry"]

log = logging.getLogger("outlast.recovery")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartDecision:
    """What a restart request did: ran (``restarted``), waited ``waited`` s, or why not;
    ``refused`` when it will not run again soon (no hook, or the restart limit is hit)."""

    restarted: bool
    waited: float = 0.0
    reason: str = ""
    refused: bool = False


class ServiceRegistry:
    """Services by name, with the restart hooks they are allowed to use."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self._services: dict[str, Service] = {}
        self._limiters: dict[str, RestartLimiter] = {}
        self._allowed: list[RestartHook] = []
        self._restarting: dict[str, asyncio.Future[RestartDecision]] = {}
        self._lock = threading.Lock()

    def allow_restart_hook(self, hook: RestartHook) -> None:
        """Allow-list ``hook``: only allowed hooks can be given to a service."""
        with self._lock:
            self._allowed.append(hook)

    def allowed_hooks(self) -> list[RestartHook]:
        """The allow-listed restart hooks."""
        with self._lock:
            return list(self._allowed)

    def register(self, service: Service) -> Service:
        """Add or replace ``service``; its restart hook must be allow-listed."""
        if service.restart is not None and service.restart not in self._allowed:
            raise ConfigurationError(
                f"service {service.name!r}: restart hook {service.restart!r} is not allow-listed"
            )
        with self._lock:
            self._services[service.name] = service
            self._limiters[service.name] = RestartLimiter(service.restart_limit)
        return service

    def get(self, name: str) -> Service | None:
        """The service called ``name``, or None."""
        return self._services.get(name)

    def names(self) -> list[str]:
        """The registered service names, sorted."""
        return sorted(self._services)

    def client(self, name: str) -> Any:
        """The current shared client of service ``name`` (read it at each use: healing
        replaces it); KeyError if the service has none."""
        service = self._services.get(name)
        if service is None or service.client is None:
            raise KeyError(f"service {name!r} has no shared client")
        return service.client.client

    def invalidate_for(self, error: BaseException) -> list[str]:
        """Drop the shared client of every service whose ``heal_on`` matches ``error`` (or
        an error it was raised from), so the next use connects anew; their names."""
        chain = _error_chain(error)
        dropped = []
        for name, service in sorted(self._services.items()):
            if service.client is None or not service.heal_on:
                continue
            if any(isinstance(e, service.heal_on) for e in chain):
                service.client.invalidate()
                dropped.append(name)
        return dropped

    def client_services(self) -> list[str]:
        """The services with a shared client that healing replaces, sorted."""
        return sorted(n for n, s in self._services.items() if s.client is not None)

    def limiter(self, name: str) -> RestartLimiter:
        """The restart limiter of service ``name`` (KeyError if unknown)."""
        return self._limiters[name]

    async def probe(self, name: str) -> ProbeResult:
        """Probe service ``name`` within its timeout; unknown names are unhealthy."""
        service = self._services.get(name)
        if service is None:
            return ProbeResult(healthy=False, detail=f"no service {name!r} is registered")
        result = await run_probe(service.probe, limit=service.probe_timeout, clock=self.clock)
        self._limiters[name].observed(healthy=result.healthy, now=self.clock.monotonic())
        return result

    async def heal(self, name: str) -> ProbeResult:
        """Run the service's heal routine (if any), then probe it."""
        service = self._services.get(name)
        if service is not None and service.heal is not None:
            try:
                await service.heal()
            except Exception as error:
                log.warning("healing %s failed: %s: %s", name, type(error).__name__, error)
                return ProbeResult(healthy=False, detail=f"heal failed: {type(error).__name__}")
        return await self.probe(name)

    async def restart(self, name: str) -> RestartDecision:
        """Restart service ``name`` through its hook, after the delay its limit asks for.

        Refused (not run) without a hook, or when the burst limit is hit. Callers that ask
        while a restart of the same service is under way share its decision instead of
        restarting again.
        """
        service = self._services.get(name)
        if service is None or service.restart is None:
            return RestartDecision(
                restarted=False, refused=True, reason=f"service {name!r} has no restart hook"
            )
        running = self._restarting.get(name)
        if running is not None and running.get_loop() is asyncio.get_running_loop():
            return await asyncio.shield(running)
        task = asyncio.ensure_future(self._restart(name, service.restart))
        self._restarting[name] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._restarting.get(name) is task:
                del self._restarting[name]

    async def _restart(self, name: str, hook: RestartHook) -> RestartDecision:
        limiter = self._limiters[name]
        now = self.clock.monotonic()
        wait = limiter.decide(now)
        if wait == LIMIT_HIT:
            return RestartDecision(restarted=False, refused=True, reason="restart limit hit")
        limiter.restarted(now + wait)  # counted now, so no other restart can slip in first
        if wait > 0:
            await self.clock.asleep(wait)
        try:
            await hook.restart()
        except Exception as error:
            return RestartDecision(restarted=False, waited=wait, reason=f"restart failed: {error}")
        return RestartDecision(restarted=True, waited=wait)

    def unregister(self, name: str) -> None:
        """Forget service ``name`` (its client is not closed here)."""
        with self._lock:
            self._services.pop(name, None)
            self._limiters.pop(name, None)

    async def probe_all(self) -> dict[str, ProbeResult]:
        """Every registered service's probe, run concurrently, by name."""
        names = self.names()
        results = await asyncio.gather(*(self.probe(name) for name in names))
        return dict(zip(names, results, strict=True))


def _error_chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it was raised from or during (each once)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
