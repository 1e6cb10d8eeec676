"""Alerts in Redis: one JSON document per alert id, and two sorted sets by status.

``index:status=active`` is scored by last update, ``index:status=resolved`` by resolution
time. Raising and resolving are optimistic transactions on the alert's key (see
``_redis_transact``). A resolved alert's document expires after the retention; an active
one never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from redis.asyncio.client import Pipeline

from outlast._clock import Clock
from outlast.store._records import (
    Alert,
    AlertStatus,
    changed_alert,
    merge_alert,
    resolved_alert,
)
from outlast.store.redis._redis_client import Connection
from outlast.store.redis._redis_timeline import PURGE_BATCH, decode, encode, ttl_ms
from outlast.store.redis._redis_transact import Plan, transact

__all__ = ["RedisAlerts"]

Write = Callable[[Pipeline], object]


class RedisAlerts:
    """Raises, resolves and lists alerts under ``<prefix>alerts:``."""

    def __init__(self, *, prefix: str, retention: float, clock: Clock) -> None:
        self._base = f"{prefix}alerts:"
        self._retention = retention
        self._clock = clock

    def _item(self, alert_id: str) -> str:
        return f"{self._base}item:{alert_id}"

    def _index(self, status: AlertStatus) -> str:
        return f"{self._base}index:status={status.value}"

    async def upsert(self, conn: Connection, alert: Alert) -> Alert:
        """Raise ``alert`` (merged into the active alert with its id, if any)."""

        def plan(raw: str | None) -> tuple[Alert, Write]:
            merged = merge_alert(self._live(raw), alert)
            return merged, lambda pipe: self._write_active(pipe, merged)

        return await transact(conn.client, self._item(alert.id), plan)

    async def resolve(self, conn: Connection, alert_id: str, *, at: float) -> Alert | None:
        """Resolve the alert; None if there is none."""

        def plan(raw: str | None) -> tuple[Alert | None, Write | None]:
            alert = self._live(raw)
            if alert is None:
                return None, None
            if alert.status is AlertStatus.RESOLVED:
                return alert, None
            done = resolved_alert(alert, at=at)
            return done, lambda pipe: self._write_resolved(pipe, done)

        return await transact(conn.client, self._item(alert_id), plan)

    async def update(
        self, conn: Connection, alert_id: str, change: Callable[[Alert], Alert]
    ) -> Alert | None:
        """Store ``change`` of the alert; None if there is none."""

        def plan(raw: str | None) -> tuple[Alert | None, Write | None]:
            alert = self._live(raw)
            if alert is None:
                return None, None
            changed = changed_alert(alert, change)
            if changed == alert:
                return alert, None
            if changed.status is AlertStatus.RESOLVED:
                return changed, lambda pipe: self._write_resolved(pipe, changed)
            return changed, lambda pipe: self._write_active(pipe, changed)

        return await transact(conn.client, self._item(alert_id), plan)

    async def get(self, conn: Connection, alert_id: str) -> Alert | None:
        """The alert with this id, or None (also once a resolved alert has expired)."""
        return self._live(await conn.client.get(self._item(alert_id)))

    async def find(
        self, conn: Connection, *, status: AlertStatus, limit: int, offset: int
    ) -> list[Alert]:
        """Alerts of ``status``, newest first."""
        if limit == 0:
            return []
        low = "-inf"
        if status is AlertStatus.RESOLVED:
            low = f"({self._clock.time() - self._retention!r}"
        ids = cast(
            list[str],
            await conn.client.zrevrangebyscore(
                self._index(status), "+inf", low, start=offset, num=limit
            ),
        )
        if not ids:
            return []
        documents = await conn.client.mget([self._item(alert_id) for alert_id in ids])
        return [decode(Alert, raw) for raw in documents if raw is not None]

    async def purge_resolved(self, conn: Connection, *, before: float) -> int:
        """Delete the alerts resolved at or before ``before``; how many. Each is checked
        and deleted in one transaction, so an alert raised again meanwhile stays."""
        index, skipped, total = self._index(AlertStatus.RESOLVED), 0, 0
        while ids := cast(
            list[str],
            await conn.client.zrangebyscore(
                index, "-inf", repr(before), start=skipped, num=PURGE_BATCH
            ),
        ):
            for alert_id in ids:
                outcome = await transact(
                    conn.client, self._item(alert_id), self._purge_plan(alert_id, before)
                )
                total += outcome == "deleted"
                skipped += outcome == "kept"
        return total

    def _purge_plan(self, alert_id: str, before: float) -> Plan[str]:
        index = self._index(AlertStatus.RESOLVED)

        def plan(raw: str | None) -> tuple[str, Write | None]:
            alert = None if raw is None else decode(Alert, raw)
            if alert is not None and (alert.resolved_at or before + 1) > before:
                if alert.status is AlertStatus.RESOLVED:
                    return "kept", None  # resolved again later: its score is behind
                return "gone", lambda pipe: pipe.zrem(index, alert_id)
            outcome = "gone" if alert is None else "deleted"
            return outcome, lambda pipe: (pipe.delete(self._item(alert_id)),
                                          pipe.zrem(index, alert_id))  # fmt: skip

        return plan

    def _live(self, raw: str | bytes | None) -> Alert | None:
        """The stored alert, unless it is missing or resolved longer than the retention."""
        alert = None if raw is None else decode(Alert, raw)
        if alert is None or alert.resolved_at is None:
            return alert
        return alert if alert.resolved_at + self._retention > self._clock.time() else None

    def _write_active(self, pipe: Pipeline, alert: Alert) -> None:
        pipe.set(self._item(alert.id), encode(alert.to_document()))  # SET drops any TTL
        pipe.zrem(self._index(AlertStatus.RESOLVED), alert.id)
        pipe.zadd(self._index(AlertStatus.ACTIVE), {alert.id: alert.updated_at})

    def _write_resolved(self, pipe: Pipeline, alert: Alert) -> None:
        assert alert.resolved_at is not None
        now = self._clock.time()
        expiry = ttl_ms(alert.resolved_at + self._retention - now)
        resolved = self._index(AlertStatus.RESOLVED)
        pipe.set(self._item(alert.id), encode(alert.to_document()), px=expiry)
        pipe.zrem(self._index(AlertStatus.ACTIVE), alert.id)
        pipe.zadd(resolved, {alert.id: alert.resolved_at})
        pipe.zremrangebyscore(resolved, "-inf", repr(now - self._retention))
        pipe.pexpire(resolved, expiry)
