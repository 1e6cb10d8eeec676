"""Recovery statistics are shared by every process through one Redis hash, and counted
locally (never raised) while Redis is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from _servers import start_redis_server
from outlast import ErrorContext
from outlast.recovery import RecoveryManager, RecoveryStatistics, RecoveryStrategy
from outlast.resilience.shared._redis_link import RedisLink
from outlast.testing import FakeClock


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"recovery-stats-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(RedisLink(redis_url, namespace=name).key("recovery", "stats"))
    client.close()


def manager(statistics: RecoveryStatistics) -> RecoveryManager:
    return RecoveryManager(statistics=statistics, clock=FakeClock())


def fail() -> None:
    raise ConnectionError("down")


async def test_two_managers_share_one_set_of_statistics(redis_url: str, namespace: str) -> None:
    """Recoveries counted by two managers (two processes' worth) add up in one report."""
    first = manager(RecoveryStatistics(RedisLink(redis_url, namespace=namespace)))
    second = manager(RecoveryStatistics(RedisLink(redis_url, namespace=namespace)))
    context = ErrorContext(operation="charge", metadata={"service": "payments"})
    await first.recover_from_error(ConnectionError(), context, "immediate_retry", lambda: 1)
    await first.recover_from_error(ConnectionError(), context, "immediate_retry", fail, 2)
    await second.recover_from_error(
        ConnectionError(),
        ErrorContext(operation="query"),
        RecoveryStrategy.IMMEDIATE_RETRY,
        lambda: 1,
        service="database",
    )
    await second.recover_from_error(
        ConnectionError(), context, RecoveryStrategy.GRACEFUL_DEGRADATION, None
    )
    report = await second.health()
    stats = report["statistics"]
    assert (stats["total_recoveries"], stats["successful_recoveries"]) == (4, 2)
    assert stats["success_rate"] == 0.5
    assert stats["by_service"]["payments"] == {
        "total_recoveries": 3,
        "successful_recoveries": 1,
        "success_rate": pytest.approx(1 / 3),
    }
    assert stats["by_strategy"]["immediate_retry"]["total_recoveries"] == 3
    assert stats["by_strategy"]["graceful_degradation"]["successful_recoveries"] == 0
    assert (await first.get_recovery_stats()) == stats


async def test_redis_down_counts_locally_and_flushes_when_back() -> None:
    """With its Redis stopped the counts stay in the process; they reach Redis once it is back."""
    server = start_redis_server()
    port = server.port
    link = RedisLink(server.url, namespace="stats-outage", retry_interval=0.0)
    recovery = manager(RecoveryStatistics(link))
    server.stop()
    try:
        ok = await recovery.recover_from_error(
            ConnectionError(), ErrorContext(operation="op"), "immediate_retry", lambda: "fine"
        )
        assert ok == (True, "fine")
        stats = await recovery.get_recovery_stats()
        assert (stats["total_recoveries"], stats["successful_recoveries"]) == (1, 1)
        server = start_redis_server(port)
        await recovery.recover_from_error(
            ConnectionError(), ErrorContext(operation="op"), "immediate_retry", fail, 1
        )
        client = redis.Redis.from_url(server.url)
        stored = client.hgetall(link.key("recovery", "stats"))
        client.close()
        assert (int(stored[b"total"]), int(stored[b"successful"])) == (2, 1)
    finally:
        server.stop()
        link.close()
