"""The health sweep under real faults, with services and hooks from OUTLAST_RECOVERY_*
settings: a SIGKILLed test-owned redis-server is found within the probe timeout and
brought back by its argv hook; Redis and SMTP behind a TCP fault proxy fail the sweep and
are healed by the first heal after the proxy passes traffic again; a service that fails
every probe is restarted no more than its limit allows, and monitoring hears the failures
as error events whose recovery was attempted and failed."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from _fault_proxy import FaultProxy
from _health_endpoint import HealthEndpoint
from _servers import find_redis_server, start_redis_server
from _smtp_server import start_smtp_server
from outlast.config import RecoverySettings
from outlast.errors import ErrorSeverity
from outlast.monitoring._listeners import listener_for
from outlast.recovery import (
    ArgvRestart,
    HealthSweep,
    RecoveryManager,
    RecoveryStatistics,
    ServiceRegistry,
    SweepMemory,
)
from outlast.recovery._configured import configure_services
from outlast.recovery._service_actions import heal_service_quietly
from outlast.resilience import RecoveryFailed, add_listener

PROBE_TIMEOUT = 0.5
SLACK = 0.5  # scheduling on a shared 2-core machine


def sweep_for(settings: dict[str, Any], *, ready_timeout: float = 10.0) -> HealthSweep:
    """A sweep over the services ``settings`` configure (one process's registry)."""
    chosen = RecoverySettings.model_validate(settings)
    registry = ServiceRegistry()
    configure_services(registry, chosen)
    manager = RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), ready_timeout=ready_timeout
    )
    return HealthSweep(
        manager,
        memory=SweepMemory(None),
        heals_before_restart=chosen.recovery_heals_before_restart,
    )


async def close_clients(sweep: HealthSweep) -> None:
    registry = sweep.manager.registry
    for name in registry.client_services():
        service = registry.get(name)
        if service is not None and service.client is not None:
            await service.client.close()


async def test_a_sigkilled_redis_is_found_restarted_by_its_hook_and_its_client_healed() -> None:
    """SIGKILL: one sweep sees the probe fail within its timeout, heals in vain, runs the
    argv hook (starting the server again on its port), and the shared client works."""
    server = start_redis_server()
    argv = [find_redis_server(), str(server.directory / "redis.conf")]
    sweep = sweep_for({
        "recovery_services": [{"name": "cache", "kind": "redis", "url": server.url,
                               "restart": "start-cache", "probe_timeout": PROBE_TIMEOUT}],
        "recovery_restart_hooks": {"start-cache": {"argv": argv, "wait": False}},
        "recovery_heals_before_restart": 1,
    })  # fmt: skip
    registry = sweep.manager.registry
    service = registry.get("cache")
    assert service is not None
    hook = service.restart
    assert isinstance(hook, ArgvRestart)
    try:
        assert (await sweep.run()).health["cache"]["healthy"]
        generation = service.client.generation if service.client else 0
        os.kill(server.pid, signal.SIGKILL)
        report = await sweep.run()
        assert report.health["cache"]["healthy"] is False
        assert report.health["cache"]["latency"] < PROBE_TIMEOUT + SLACK
        assert report.restarted == ["cache"]
        assert len(hook.started) == 1
        assert await registry.client("cache").set("k", "v")
        assert service.client is not None
        assert service.client.generation > generation
    finally:
        await close_clients(sweep)
        for process in hook.started:
            process.kill()
            process.wait()
        server.stop()


async def test_redis_and_smtp_behind_a_faulty_proxy_fail_then_heal_once_it_passes() -> None:
    """Both refused by the proxy: the sweep reports them unhealthy and not healed; once the
    proxy passes traffic, the first heal (the one repeated between sweeps) takes."""
    with (
        start_redis_server() as redis_server,
        FaultProxy(redis_server.port) as redis_proxy,
        start_smtp_server() as smtp,
        FaultProxy(smtp.port) as smtp_proxy,
    ):
        sweep = sweep_for({
            "recovery_services": [
                {"name": "cache", "kind": "redis", "probe_timeout": PROBE_TIMEOUT,
                 "url": f"redis://127.0.0.1:{redis_proxy.port}/0"},
                {"name": "mail", "kind": "smtp", "probe_timeout": PROBE_TIMEOUT,
                 "url": f"smtp://127.0.0.1:{smtp_proxy.port}"},
            ],
        })  # fmt: skip
        try:
            assert sorted((await sweep.run()).health) == ["cache", "mail"]
            for proxy, mode in ((redis_proxy, "stall"), (smtp_proxy, "drop")):
                proxy.set_mode(mode)  # type: ignore[arg-type]
            started = time.monotonic()
            report = await sweep.run()
            assert time.monotonic() - started < 2 * PROBE_TIMEOUT + 2 * SLACK
            assert sorted(report.failed) == ["cache", "mail"]
            redis_proxy.set_mode("pass")
            smtp_proxy.set_mode("pass")
            for name in ("cache", "mail"):
                healed = await heal_service_quietly(sweep.manager, name)
                assert healed["healed"], healed
            assert await sweep.manager.registry.client("cache").ping()
            stats = await sweep.manager.get_recovery_stats()
            assert stats["by_service"]["mail"]["successful_recoveries"] == 1
        finally:
            await close_clients(sweep)


async def test_a_service_failing_every_probe_is_restarted_no_more_than_the_limit() -> None:
    """An HTTP service answering 503 with a webhook restart hook, swept 6 times: the hook
    is called twice (the burst), and monitoring records the failed recoveries, the limit
    hit among them, as errors with recovery attempted and not successful."""
    recorded: list[dict[str, Any]] = []

    class Recorder:
        def record(
            self, error: BaseException, context: Any = None,
            severity: ErrorSeverity | str | None = None, *,
            recovery_attempted: bool = False, recovery_successful: bool | None = None,
        ) -> None:  # fmt: skip
            recorded.append(
                {"error": str(error), "attempted": recovery_attempted,
                 "successful": recovery_successful}
            )  # fmt: skip

        def tally(self, name: str, count: int = 1) -> None:
            return None

    with HealthEndpoint() as endpoint:
        endpoint.status = 503
        sweep = sweep_for(
            {
                "recovery_services": [{"name": "api", "kind": "http", "url": endpoint.url,
                                       "restart": "api", "probe_timeout": PROBE_TIMEOUT}],
                "recovery_restart_hooks": {"api": {"webhook": endpoint.restart_url}},
                "recovery_heals_before_restart": 1,
                "recovery_restart_burst": 2,
                "recovery_restart_delay": 0,
            },
            ready_timeout=0.3,
        )  # fmt: skip
        reasons: list[str] = []
        stops = [
            add_listener(listener_for(Recorder())),
            add_listener(
                lambda e: reasons.append(e.reason) if isinstance(e, RecoveryFailed) else None
            ),
        ]
        try:
            for _ in range(6):
                assert (await sweep.run()).failed == ["api"]
        finally:
            for stop in stops:
                stop()
        assert endpoint.restarts == 2
    assert reasons.count("restart limit hit") == 1  # announced once, not every sweep
    assert len(recorded) == len(reasons) == 6 + 3  # six failed heals, three failed restarts
    assert all(r["attempted"] and r["successful"] is False for r in recorded)
