"""Recovery timing under real faults: fault to detection, and service return to healed.

For each service (Redis, SMTP, HTTP) and fault, a probe loop runs as a health sweep would
(every ``INTERVAL`` s); the bench injects the fault, times the first unhealthy answer
(target: within the probe timeout, ``PROBE_TIMEOUT``), then removes the fault and times the
first heal that passes (target: within 1 s of the return). Faults: Redis SIGKILLed and
restarted by its argv restart hook; Redis, SMTP and HTTP behind a TCP fault proxy that
stalls or refuses connections; HTTP answering 503. Prints median and max over ``RUNS``.

Run: ``.venv/bin/python bench/recovery.py [--quick]``. Every server is started here, on
loopback, and stopped by pid at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _recovery_bench as shared
from _servers import find_redis_server, start_redis_server
from outlast.recovery import (
    ArgvRestart,
    ManagedClient,
    Service,
    ServiceRegistry,
    http_probe,
    managed_redis,
    redis_service,
    smtp_probe,
)

RUNS = 3 if shared.QUICK else 10
PROBE_TIMEOUT = 1.0  # Kubernetes' default timeoutSeconds
INTERVAL = 0.05
TABLE = shared.Table(
    "detect", shared.Figures("7.1f", "ms"), shared.Figures("7.1f", "ms"), PROBE_TIMEOUT + INTERVAL
)
MODES: dict[shared.Kind, tuple[shared.Mode, ...]] = {
    "redis": ("stall", "refuse"),
    "smtp": ("stall", "refuse"),
    "http": ("stall", "refuse", "503"),
}

Action = Callable[[], Awaitable[None] | None]


async def _until(registry: ServiceRegistry, name: str, *, healthy: bool) -> float:
    """Seconds until probing (or healing, when waiting for health) gives ``healthy``."""
    started = time.perf_counter()
    while True:
        check = registry.heal if healthy else registry.probe
        if (await check(name)).healthy == healthy:
            return time.perf_counter() - started
        await asyncio.sleep(INTERVAL)


async def _measure(
    registry: ServiceRegistry, name: str, fault: Action, back: Action
) -> tuple[float, float]:
    """(fault to detection, return to healed) for one fault."""
    assert (await registry.probe(name)).healthy, f"{name} unhealthy before the fault"
    await _call(fault)
    detected = await _until(registry, name, healthy=False)
    await _call(back)
    healed = await _until(registry, name, healthy=True)
    return detected, healed


async def _call(action: Action) -> None:
    outcome = action()
    if outcome is not None:
        await outcome


async def redis_sigkill() -> shared.Results:
    """SIGKILL the server; its argv restart hook starts it again on the same port."""
    server = start_redis_server()
    hook = ArgvRestart(argv=(find_redis_server(), str(server.directory / "redis.conf")), wait=False)
    managed = managed_redis(server.url, timeout=PROBE_TIMEOUT)
    registry = ServiceRegistry()
    registry.allow_restart_hook(hook)
    registry.register(redis_service("redis", managed, restart=hook, probe_timeout=PROBE_TIMEOUT))
    pids = [server.pid]
    results = []
    try:
        for _ in range(RUNS):

            def kill() -> None:
                os.kill(pids[-1], signal.SIGKILL)

            async def restart() -> None:
                await hook.restart()
                pids.append(hook.started[-1].pid)

            results.append(await _measure(registry, "redis", kill, restart))
    finally:
        await managed.close()
        for process in hook.started:
            process.kill()
            process.wait()
        server.stop()
    return results


async def behind_proxy(kind: shared.Kind, mode: shared.Mode) -> shared.Results:
    with shared.fault_target(kind, mode) as target:
        registry = ServiceRegistry()
        managed: ManagedClient[Any] | None = None
        if kind == "redis":
            managed = managed_redis(target.url, timeout=PROBE_TIMEOUT)
            registry.register(redis_service("redis", managed, probe_timeout=PROBE_TIMEOUT))
        else:
            if kind == "smtp":
                probe = smtp_probe("127.0.0.1", target.port, timeout=PROBE_TIMEOUT)
            else:
                probe = http_probe(target.url, timeout=PROBE_TIMEOUT)
            registry.register(Service(name=kind, probe=probe, probe_timeout=PROBE_TIMEOUT))
        try:
            return [await _measure(registry, kind, target.fault, target.back) for _ in range(RUNS)]
        finally:
            if managed is not None:
                await managed.close()


async def main() -> None:
    print(
        f"probe timeout {PROBE_TIMEOUT} s, probing every {INTERVAL} s, {RUNS} runs each; "
        f"targets: detection <= probe timeout, healed <= {shared.HEALED_TARGET} s after return"
    )
    await TABLE.run(shared.fault_cases(redis_sigkill, behind_proxy, MODES))


if __name__ == "__main__":
    asyncio.run(main())
