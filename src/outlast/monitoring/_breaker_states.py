"""The open circuit breakers of the whole cluster, for the ``system_degradation`` rule.

Every worker process publishes its breakers to Redis (``resilience.shared._registry_snapshot``,
every few seconds). A cluster-scope breaker is one state hash in Redis
(``link.key("cb", name)``, written by its Lua scripts with Redis's own clock): its
state is read there, authoritatively, as open while ``state`` is ``open`` and its
``open_until`` (server milliseconds) is still ahead of Redis's ``TIME``, so a breaker
nobody called since its recovery timeout passed no longer counts. A process-local breaker
counts as open when any live process reports it open. This process's own breakers are
added (it may not publish). Breaker ``payments.gateway`` belongs to service ``payments``.

:func:`cluster_open_breakers` reads Redis and never raises a Redis error: None when Redis
does not answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from outlast.monitoring._event import service_of
from outlast.resilience.shared._redis_link import RedisLink, Unavailable
from outlast.resilience.shared._registry_snapshot import read_snapshots

__all__ = ["cluster_open_breakers", "open_in_snapshots"]

_OPEN = "open"


def open_in_snapshots(snapshots: Iterable[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(local breakers some process reports open, names of cluster-scope breakers)."""
    local_open: set[str] = set()
    cluster: set[str] = set()
    for snapshot in snapshots:
        breakers = snapshot.get("breakers")
        for name, stats in (breakers if isinstance(breakers, dict) else {}).items():
            if not isinstance(stats, dict):
                continue
            if stats.get("scope") == "cluster":
                cluster.add(str(name))
            elif stats.get("state") == _OPEN:
                local_open.add(str(name))
    return local_open, cluster


def _this_process() -> dict[str, Any]:
    """This process's breakers as a snapshot (read from its registry)."""
    from outlast.resilience import circuit_breakers

    return {"breakers": {name: b.stats() for name, b in circuit_breakers().items()}}


def cluster_open_breakers(link: RedisLink) -> dict[str, str] | None:
    """Every open breaker of the cluster on ``link``: name -> service; None if Redis did
    not answer."""
    snapshots = read_snapshots(link)
    if snapshots is None:
        return None
    local_open, cluster = open_in_snapshots([*snapshots, _this_process()])
    shared = _open_in_redis(link, sorted(cluster))
    if shared is None:
        return None
    return {name: service_of(name) for name in sorted(local_open | shared)}


def _open_in_redis(link: RedisLink, names: list[str]) -> set[str] | None:
    if not names:
        return set()

    def read(client: Any) -> list[Any]:
        pipeline = client.pipeline(transaction=False)
        pipeline.time()
        for name in names:
            pipeline.hmget(link.key("cb", name), "state", "open_until")
        replies: list[Any] = pipeline.execute()
        return replies

    replies = link.call(read)
    if isinstance(replies, Unavailable):
        return None
    seconds, micros = replies[0]
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    found = set()
    for name, (state, until) in zip(names, replies[1:], strict=True):
        if _text(state) == _OPEN and until is not None and float(_text(until)) > now_ms:
            found.add(name)
    return found


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
