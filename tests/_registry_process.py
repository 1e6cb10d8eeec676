"""A plain process with breakers and bulkheads of its own that publishes its registries.

Run as ``python tests/_registry_process.py <redis_url> <namespace> <label>``: it makes a
local breaker ``<label>-breaker`` (opened when the label ends in ``-open``), a local breaker
``shared-name`` with one success, and a local bulkhead ``<label>-pool`` holding one permit,
publishes every 0.2 s, prints ``ready`` and runs until stdin closes (then withdraws its
snapshot). It stands for a worker process in the health API tests.
"""

from __future__ import annotations

import sys

from outlast.resilience import get_bulkhead, get_circuit_breaker
from outlast.resilience.shared._redis_link import link_for
from outlast.resilience.shared._registry_snapshot import start_registry_publisher


def main(redis_url: str, namespace: str, label: str) -> None:
    """Build the registries, publish them, wait for stdin to close."""
    breaker = get_circuit_breaker(f"{label}-breaker", scope="local")
    if label.endswith("-open"):
        breaker.force_open()
    get_circuit_breaker("shared-name", scope="local").call_sync(lambda: None)
    pool = get_bulkhead(f"{label}-pool", 3, scope="local")
    assert pool.try_acquire()
    publisher = start_registry_publisher(link_for(redis_url, namespace), interval=0.2)
    publisher.publish_once()
    print("ready", flush=True)
    sys.stdin.read()
    publisher.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
