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
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

from _fault_proxy import FaultProxy  # noqa: E402
from _health_endpoint import HealthEndpoint  # noqa: E402
from _servers import find_redis_server, start_redis_server  # noqa: E402
from _smtp_server import start_smtp_server  # noqa: E402
from outlast.recovery import (  # noqa: E402
    ArgvRestart,
    Service,
    ServiceRegistry,
    http_probe,
    managed_redis,
    redis_service,
    smtp_probe,
)

QUICK = "--quick" in sys.argv
RUNS = 3 if QUICK else 10
PROBE_TIMEOUT = 1.0  # Kubernetes' default timeoutSeconds
INTERVAL = 0.05
HEALED_TARGET = 1.0

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


async def redis_sigkill() -> list[tuple[float, float]]:
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


async def redis_behind_proxy(mode: Any) -> list[tuple[float, float]]:
    with start_redis_server() as server, FaultProxy(server.port) as proxy:
        managed = managed_redis(f"redis://127.0.0.1:{proxy.port}/0", timeout=PROBE_TIMEOUT)
        registry = ServiceRegistry()
        registry.register(redis_service("redis", managed, probe_timeout=PROBE_TIMEOUT))
        try:
            return [
                await _measure(
                    registry, "redis", lambda: proxy.set_mode(mode), lambda: proxy.set_mode("pass")
                )
                for _ in range(RUNS)
            ]
        finally:
            await managed.close()


async def smtp_behind_proxy(mode: Any) -> list[tuple[float, float]]:
    with start_smtp_server() as smtp, FaultProxy(smtp.port) as proxy:
        registry = ServiceRegistry()
        probe = smtp_probe("127.0.0.1", proxy.port, timeout=PROBE_TIMEOUT)
        registry.register(Service(name="smtp", probe=probe, probe_timeout=PROBE_TIMEOUT))
        return [
            await _measure(
                registry, "smtp", lambda: proxy.set_mode(mode), lambda: proxy.set_mode("pass")
            )
            for _ in range(RUNS)
        ]


async def http_faults(mode: Any) -> list[tuple[float, float]]:
    with HealthEndpoint() as endpoint, FaultProxy(endpoint.port) as proxy:
        registry = ServiceRegistry()
        url = f"http://127.0.0.1:{proxy.port}/health"
        probe = http_probe(url, timeout=PROBE_TIMEOUT)
        registry.register(Service(name="http", probe=probe, probe_timeout=PROBE_TIMEOUT))

        def fault() -> None:
            if mode == "503":
                endpoint.status = 503
            else:
                proxy.set_mode(mode)

        def back() -> None:
            endpoint.status = 200
            proxy.set_mode("pass")

        return [await _measure(registry, "http", fault, back) for _ in range(RUNS)]


def _row(label: str, results: list[tuple[float, float]]) -> str:
    detected = [d for d, _ in results]
    healed = [h for _, h in results]
    ok = max(detected) <= PROBE_TIMEOUT + INTERVAL and max(healed) <= HEALED_TARGET
    return (
        f"{label:<22} detect median {statistics.median(detected) * 1000:7.1f} ms "
        f"max {max(detected) * 1000:7.1f} ms | healed median "
        f"{statistics.median(healed) * 1000:7.1f} ms max {max(healed) * 1000:7.1f} ms "
        f"| {'meets' if ok else 'MISSES'} targets"
    )


async def main() -> None:
    print(
        f"probe timeout {PROBE_TIMEOUT} s, probing every {INTERVAL} s, {RUNS} runs each; "
        f"targets: detection <= probe timeout, healed <= {HEALED_TARGET} s after return"
    )
    cases: list[tuple[str, Callable[[], Awaitable[list[tuple[float, float]]]]]] = [
        ("redis sigkill+restart", redis_sigkill),
        ("redis stall", lambda: redis_behind_proxy("stall")),
        ("redis refuse", lambda: redis_behind_proxy("refuse")),
        ("smtp stall", lambda: smtp_behind_proxy("stall")),
        ("smtp refuse", lambda: smtp_behind_proxy("refuse")),
        ("http stall", lambda: http_faults("stall")),
        ("http refuse", lambda: http_faults("refuse")),
        ("http 503", lambda: http_faults("503")),
    ]
    for label, case in cases:
        print(_row(label, await case()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
