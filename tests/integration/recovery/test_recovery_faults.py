"""Real faults: a SIGKILLed redis-server, and a TCP fault proxy that drops, stalls or
refuses connections in front of Redis, SMTP and HTTP. Probes fail within their timeout;
restart hooks and healing bring the clients back without a process restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from _fault_proxy import FaultMode, FaultProxy
from _health_endpoint import HealthEndpoint
from _servers import find_redis_server, start_redis_server
from _smtp_server import start_smtp_server
from outlast import ErrorContext
from outlast.recovery import (
    ArgvRestart,
    ManagedClient,
    RecoveryManager,
    RecoveryStatistics,
    RecoveryStrategy,
    RestartFailedError,
    RestartLimit,
    Service,
    ServiceRegistry,
    WebhookRestart,
    http_probe,
    managed_redis,
    redis_service,
    smtp_probe,
)

PROBE_TIMEOUT = 0.5
SLACK = 0.3  # scheduling on a shared 2-core machine

FAULTS: list[FaultMode] = ["drop", "stall", "refuse"]


@pytest.fixture
def redis_proxy() -> Iterator[FaultProxy]:
    with start_redis_server() as server, FaultProxy(server.port) as proxy:
        yield proxy


async def test_sigkilled_redis_is_detected_restarted_and_healed() -> None:
    """SIGKILL: the probe fails within its timeout; the argv hook restarts the server; the
    same process's client heals and works again."""
    server = start_redis_server()
    hook = ArgvRestart(argv=(find_redis_server(), str(server.directory / "redis.conf")), wait=False)
    managed = managed_redis(server.url, timeout=PROBE_TIMEOUT)
    registry = ServiceRegistry()
    registry.allow_restart_hook(hook)
    registry.register(redis_service("cache", managed, restart=hook, probe_timeout=PROBE_TIMEOUT))
    recovery = RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), ready_timeout=10.0
    )
    try:
        await managed.client.set("answer", "42")
        assert (await registry.probe("cache")).healthy
        os.kill(server.pid, signal.SIGKILL)
        started = time.monotonic()
        down = await registry.probe("cache")
        assert not down.healthy
        assert time.monotonic() - started < PROBE_TIMEOUT + SLACK

        async def read_back() -> Any:
            await managed.client.set("answer", "43")
            return await managed.client.get("answer")

        generation = managed.generation
        ok = await recovery.recover_from_error(
            ConnectionError("redis gone"),
            ErrorContext(operation="read"),
            RecoveryStrategy.SERVICE_RESTART,
            read_back,
            service="cache",
        )
        assert ok == (True, b"43")
        assert len(hook.started) == 1
        assert managed.generation > generation
    finally:
        await managed.close()
        for process in hook.started:
            process.kill()
            process.wait()
        server.stop()


@pytest.mark.parametrize("fault", FAULTS)
async def test_redis_probe_fails_under_fault_and_heals_after(
    redis_proxy: FaultProxy, fault: FaultMode
) -> None:
    """Behind the proxy, each fault fails the Redis probe in time; healing passes after."""
    managed = managed_redis(f"redis://127.0.0.1:{redis_proxy.port}/0", timeout=PROBE_TIMEOUT)
    registry = ServiceRegistry()
    registry.register(redis_service("cache", managed, probe_timeout=PROBE_TIMEOUT))
    try:
        assert (await registry.probe("cache")).healthy
        redis_proxy.set_mode(fault)
        started = time.monotonic()
        assert not (await registry.probe("cache")).healthy
        assert time.monotonic() - started < PROBE_TIMEOUT + SLACK
        assert not (await registry.heal("cache")).healthy
        redis_proxy.set_mode("pass")
        healed = await registry.heal("cache")
        assert healed.healthy, healed.detail
        assert await managed.client.ping()
    finally:
        await managed.close()


@pytest.mark.parametrize("fault", FAULTS)
async def test_smtp_probe_fails_under_fault_and_passes_after(fault: FaultMode) -> None:
    """An SMTP server behind the proxy: connect/EHLO/NOOP fails in time, passes once healed."""
    with start_smtp_server() as smtp, FaultProxy(smtp.port) as proxy:
        registry = ServiceRegistry()
        probe = smtp_probe("127.0.0.1", proxy.port, timeout=PROBE_TIMEOUT)
        registry.register(Service(name="smtp", probe=probe, probe_timeout=PROBE_TIMEOUT))
        assert (await registry.probe("smtp")).healthy
        proxy.set_mode(fault)
        started = time.monotonic()
        assert not (await registry.probe("smtp")).healthy
        assert time.monotonic() - started < PROBE_TIMEOUT + SLACK
        proxy.set_mode("pass")
        result = await registry.heal("smtp")
        assert result.healthy, result.detail
        assert result.detail == "NOOP 250"


async def test_http_probe_checks_the_expected_status() -> None:
    """The HTTP probe passes on the expected status, fails on another and when refused."""
    with HealthEndpoint() as endpoint, FaultProxy(endpoint.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/health"
        registry = ServiceRegistry()
        registry.register(
            Service(name="api", probe=http_probe(url, timeout=PROBE_TIMEOUT), probe_timeout=1.0)
        )
        assert (await registry.probe("api")).detail == "HTTP 200"
        endpoint.status = 503
        failed = await registry.probe("api")
        assert (failed.healthy, failed.detail) == (False, "HTTP 503")
        endpoint.status = 200
        proxy.set_mode("stall")
        started = time.monotonic()
        assert not (await registry.probe("api")).healthy
        assert time.monotonic() - started < PROBE_TIMEOUT + SLACK
        proxy.set_mode("pass")
        assert (await registry.heal("api")).healthy


async def test_a_restart_hook_that_fails_is_counted_and_the_limit_holds() -> None:
    """An argv hook exiting non-zero fails each attempt; the burst limit stops the restarts."""
    hook = ArgvRestart(argv=("false",))
    managed: ManagedClient[Any] = managed_redis("redis://127.0.0.1:1/0", timeout=0.2)
    registry = ServiceRegistry()
    registry.allow_restart_hook(hook)
    limit = RestartLimit(burst=2, initial_delay=0.01, max_delay=0.01)
    registry.register(redis_service("dead", managed, restart=hook, restart_limit=limit))
    recovery = RecoveryManager(registry=registry, statistics=RecoveryStatistics(None))
    success, last = await recovery.recover_from_error(
        ConnectionError("x"),
        ErrorContext(operation="x"),
        "service_restart",
        lambda: 1,
        max_attempts=5,
        service="dead",
    )
    assert success is False
    assert "exited with status 1" in str(last)
    assert registry.limiter("dead").restarts == 2


async def test_webhook_restart_posts_to_its_fixed_url() -> None:
    """A webhook hook POSTs to its URL; an unexpected status fails the restart by name."""
    with HealthEndpoint() as endpoint:
        hook = WebhookRestart(url=endpoint.restart_url)
        await hook.restart()
        assert endpoint.restarts == 1
        endpoint.restart_status = 500
        with pytest.raises(RestartFailedError, match="restart webhook answered 500"):
            await hook.restart()
        assert endpoint.restarts == 2


def test_restart_hooks_refuse_bad_definitions() -> None:
    """An empty argv or a non-HTTP webhook URL is refused when the hook is made."""
    with pytest.raises(ValueError, match="argv must be non-empty strings"):
        ArgvRestart(argv=())
    with pytest.raises(ValueError, match="must be an http"):
        WebhookRestart(url="file:///etc/passwd")


async def test_started_commands_that_ended_are_not_kept() -> None:
    """A long-running argv hook lists only the processes it started that still run."""
    hook = ArgvRestart(argv=("true",), wait=False)
    await hook.restart()
    first = hook.started[0]
    first.wait()
    await hook.restart()
    assert len(hook.started) == 1
    assert hook.started[0] is not first
    hook.started[0].wait()
