"""system_degradation judges the cluster's breakers, not this process's: breakers another
process opened in Redis (and published in its registry snapshot) raise it here, and it
resolves once they are closed in Redis, whatever the snapshot still says."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from outlast.config import CircuitBreakerConfig
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._alerting import AlertingConfig, evaluate_alerts
from outlast.monitoring._breaker_states import cluster_open_breakers
from outlast.resilience import CircuitBreaker
from outlast.resilience.breaker._redis_breaker import RedisBreakerState
from outlast.resilience.shared._redis_link import link_for
from outlast.store import AlertStatus, RedisStore

NAMES = ("payments.gateway", "emails.smtp")

# Another process: opens the cluster breakers named, publishes its registry once, exits.
OPENER = """
from outlast.config import get_settings
from outlast.resilience import get_circuit_breaker
from outlast.resilience.shared._redis_link import link_for
from outlast.resilience.shared._registry_snapshot import RegistryPublisher
import sys
get_circuit_breaker("idle.cache")  # a closed one: never counted
for name in sys.argv[1:]:
    get_circuit_breaker(name).force_open()
settings = get_settings()
assert RegistryPublisher(link_for(settings.redis_url, settings.namespace)).publish_once()
"""


def open_in_another_process(redis_url: str, namespace: str, *names: str, **extra: str) -> None:
    """Run the opener with the test's Redis and namespace (cluster-scope breakers)."""
    env = {**os.environ, "OUTLAST_REDIS_URL": redis_url, "OUTLAST_NAMESPACE": namespace, **extra}
    done = subprocess.run([sys.executable, "-c", OPENER, *names], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def close_from_here(redis_url: str, namespace: str, name: str) -> None:
    """Reset cluster breaker ``name`` in Redis from this process."""
    config = CircuitBreakerConfig()
    link = link_for(redis_url, namespace)
    backend = RedisBreakerState(name, config=config, link=link)
    CircuitBreaker(name, config=config, backend=backend).reset()


async def test_degradation_follows_the_breakers_in_redis(redis_url: str, namespace: str) -> None:
    """Two services' breakers opened elsewhere: system_degradation fires here; one closed
    in Redis: the alert resolves."""
    open_in_another_process(redis_url, namespace, *NAMES)
    link = link_for(redis_url, namespace)
    assert cluster_open_breakers(link) == {"emails.smtp": "emails", "payments.gateway": "payments"}
    monitor = ErrorMonitor(
        redis_url=redis_url, namespace=namespace,
        open_store=lambda: RedisStore(redis_url, namespace=namespace),
    )  # fmt: skip
    raised = await evaluate_alerts(monitor=monitor, config=AlertingConfig())
    assert raised is not None
    [alert] = [a for a in raised if a.alert_type == "system_degradation"]
    assert alert.details["open_breakers"] == sorted(NAMES)

    close_from_here(redis_url, namespace, "emails.smtp")
    assert cluster_open_breakers(link) == {"payments.gateway": "payments"}
    assert await evaluate_alerts(monitor=monitor, config=AlertingConfig()) == []
    store = RedisStore(redis_url, namespace=namespace)
    try:
        resolved = await store.list_alerts(status=AlertStatus.RESOLVED)
    finally:
        await store.close()
    assert [a.id for a in resolved] == [alert.id]
    monitor.close()


def test_an_open_breaker_past_its_recovery_time_is_not_open(redis_url: str, namespace: str) -> None:
    """A cluster breaker whose open deadline has passed (nobody called it since) no longer
    counts as open, though the snapshot that named it still says open."""
    overrides = '{"search.index": {"recovery_timeout": 2.0}}'
    open_in_another_process(
        redis_url, namespace, "search.index", OUTLAST_CIRCUIT_BREAKERS=overrides
    )
    link = link_for(redis_url, namespace)
    assert cluster_open_breakers(link) == {"search.index": "search"}
    time.sleep(2.1)  # the deadline was set before the opener returned
    assert cluster_open_breakers(link) == {}
