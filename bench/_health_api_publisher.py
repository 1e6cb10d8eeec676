"""One process of ``bench/health_api.py``'s cluster: its share of breakers and bulkheads,
published to Redis as a worker's pool process publishes them.

Run as ``python bench/_health_api_publisher.py <index> <processes>`` with
``OUTLAST_REDIS_URL`` and ``OUTLAST_NAMESPACE`` set. Every process makes the cluster-scope
breakers and bulkheads (one shared object each, reported by every process, as when every
worker uses it) and the local ones whose number falls to it (``number % processes ==
index``); each breaker records a few successful calls and each bulkhead holds one permit.
It publishes at the workers' interval, prints ``ready`` and runs until stdin closes (then
withdraws its snapshot).
"""

from __future__ import annotations

import sys
from typing import Final

from outlast.config import get_settings
from outlast.resilience import Scope, get_bulkhead, get_circuit_breaker
from outlast.resilience.shared._redis_link import link_for
from outlast.resilience.shared._registry_snapshot import start_registry_publisher

BREAKERS: Final = 100
BULKHEADS: Final = 20
CLUSTER_BREAKERS: Final = 20
CLUSTER_BULKHEADS: Final = 5


def breaker_names(index: int, processes: int) -> list[tuple[str, Scope]]:
    """(name, scope) of the breakers process ``index`` makes."""
    shared: list[tuple[str, Scope]] = [
        (f"cluster-breaker-{n:02d}", "cluster") for n in range(CLUSTER_BREAKERS)
    ]
    local = range(BREAKERS - CLUSTER_BREAKERS)
    return shared + [(f"local-breaker-{n:02d}", "local") for n in local if n % processes == index]


def bulkhead_names(index: int, processes: int) -> list[tuple[str, Scope]]:
    """(name, scope) of the bulkheads process ``index`` makes."""
    shared: list[tuple[str, Scope]] = [
        (f"cluster-pool-{n:02d}", "cluster") for n in range(CLUSTER_BULKHEADS)
    ]
    local = range(BULKHEADS - CLUSTER_BULKHEADS)
    return shared + [(f"local-pool-{n:02d}", "local") for n in local if n % processes == index]


def build(index: int, processes: int) -> None:
    """Make this process's breakers (a few successes each) and bulkheads (one permit held)."""
    for name, scope in breaker_names(index, processes):
        breaker = get_circuit_breaker(name, scope=scope)
        for _ in range(3):
            breaker.call_sync(lambda: None)
    for name, scope in bulkhead_names(index, processes):
        pool = get_bulkhead(name, 10, scope=scope)
        if not pool.try_acquire():
            raise RuntimeError(f"bulkhead {name} refused its first permit")


def main(index: int, processes: int) -> None:
    """Build, publish, wait for stdin to close, withdraw."""
    build(index, processes)
    settings = get_settings()
    publisher = start_registry_publisher(link_for(settings.redis_url or "", settings.namespace))
    if not publisher.publish_once():
        raise RuntimeError("the first snapshot was not published")
    print("ready", flush=True)
    sys.stdin.read()
    publisher.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
