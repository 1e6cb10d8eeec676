"""Recovery statistics shared by every process through one Redis hash.

Each recovery adds to the totals, its strategy's and its service's counters with HINCRBY
in one pipelined round trip (no transaction: counters commute). While Redis does not
answer, counts wait in this process and go out with the next round trip that succeeds, so
nothing is lost and nothing raises into a recovery. Reads add the waiting local counts.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from outlast.resilience.shared._redis_link import UNAVAILABLE, RedisLink, Unavailable

__all__ = ["RecoveryStatistics"]


class RecoveryStatistics:
    """Counts recoveries in Redis (``link``), or only in this process when there is none."""

    def __init__(self, link: RedisLink | None) -> None:
        self._link = link
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def record(self, *, strategy: str, service: str, successful: bool) -> None:
        """Count one recovery; never raises."""
        fields = _fields(strategy=strategy, service=service, successful=successful)
        with self._lock:
            self._pending.update(fields)
        if self._link is not None:
            await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        """Send the waiting counts in one round trip; on failure they keep waiting."""
        assert self._link is not None
        with self._lock:
            batch, self._pending = self._pending, Counter()
        if not batch:
            return
        key = self._link.key("recovery", "stats")

        def send(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for name, amount in batch.items():
                pipe.hincrby(key, name, amount)
            result: list[Any] = pipe.execute()
            return result

        if self._link.call(send) is UNAVAILABLE:
            with self._lock:
                self._pending.update(batch)

    async def snapshot(self) -> dict[str, Any]:
        """The statistics the health report shows under ``recovery_system.statistics``."""
        counts: Counter[str] = Counter()
        if self._link is not None:
            await asyncio.to_thread(self._flush)
            stored = await asyncio.to_thread(self._read)
            counts.update(stored)
        with self._lock:
            counts.update(self._pending)
        return _report(counts)

    def _read(self) -> dict[str, int]:
        assert self._link is not None
        key = self._link.key("recovery", "stats")
        answer = self._link.call(lambda client: client.hgetall(key))
        if isinstance(answer, Unavailable):
            return {}
        return {_text(name): int(value) for name, value in answer.items()}


def _fields(*, strategy: str, service: str, successful: bool) -> Counter[str]:
    fields = Counter({"total": 1, f"strategy:{strategy}:total": 1, f"service:{service}:total": 1})
    if successful:
        fields.update(
            {
                "successful": 1,
                f"strategy:{strategy}:successful": 1,
                f"service:{service}:successful": 1,
            }
        )
    return fields


def _report(counts: Counter[str]) -> dict[str, Any]:
    """The seed's three numbers, then the same per strategy and per service."""
    report = _rates(counts["total"], counts["successful"])
    for group in ("strategy", "service"):
        prefix = group + ":"
        names = sorted(
            {k.removeprefix(prefix).rpartition(":")[0] for k in counts if k.startswith(prefix)}
        )
        report[f"by_{group}"] = {
            name: _rates(counts[f"{group}:{name}:total"], counts[f"{group}:{name}:successful"])
            for name in names
        }
    return report


def _rates(total: int, successful: int) -> dict[str, Any]:
    return {
        "total_recoveries": total,
        "successful_recoveries": successful,
        "success_rate": successful / total if total else 0.0,
    }


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
