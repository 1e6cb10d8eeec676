"""The consumer bootstep that makes a worker's held messages recoverable when it dies.

On a Redis broker, when the consumer starts (and after each reconnect) it gives the task
channel the QoS that records the delivery tags this worker holds (``_held_deliveries``),
before any message arrives; the first time, it beats once and starts the heartbeat
thread (``_heartbeat``), which also runs the orphan check (``_orphans``) after every
beat unless ``orphan_check_in_workers`` is off (a check that finds no dead worker costs a
set read and one pipelined EXISTS per known worker), so a dead worker's messages move
within a beat of its heartbeat lapsing. A check that moved messages records each move
(``_orphan_records``) from a thread of its own, so the heartbeat never waits on the store.
On any other broker it does nothing: RabbitMQ itself requeues a dead consumer's messages
when its connection closes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import redis
from celery import Celery, bootsteps

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.workers.orphans._heartbeat import Heartbeat, HeartbeatThread
from outlast.workers.orphans._held_deliveries import install
from outlast.workers.orphans._orphan_keys import OrphanKeys, is_redis_broker, new_worker_id
from outlast.workers.orphans._orphan_records import MoveRecorder, moves_of
from outlast.workers.orphans._orphans import CheckReport, KombuRestore, OrphanCheck, Restore

__all__ = ["OrphanGuard", "check_orphans", "orphan_keys"]

log = logging.getLogger("outlast.workers.orphans")


def orphan_keys(app: Celery) -> OrphanKeys | None:
    """The orphan keys of ``app``'s broker and namespace; None when it is not Redis."""
    from outlast.config import get_settings

    if not is_redis_broker(str(app.conf.broker_url or "")):
        return None
    options = app.conf.broker_transport_options or {}
    lease = app.conf.get("outlast_beat_lease") or {}  # the namespace the app was made for
    namespace = str(lease.get("namespace") or get_settings().namespace)
    return OrphanKeys.for_broker(namespace, options)


def _client(app: Celery) -> redis.Redis:
    return redis.Redis.from_url(
        str(app.conf.broker_url), socket_timeout=2.0, socket_connect_timeout=2.0
    )


_RECORDER = MoveRecorder()


def check_orphans(
    app: Celery, *, client: redis.Redis | None = None, recorder: MoveRecorder = _RECORDER,
    by: str | None = None, wait: float = 0.0, clock: Clock = SYSTEM_CLOCK,
) -> CheckReport:  # fmt: skip
    """Run one orphan check on ``app``'s broker (nothing to do unless it is Redis); the
    moves it made go to ``recorder`` as checker ``by``, waited for up to ``wait`` seconds."""
    from outlast.config._orphans import get_orphan_settings

    keys = orphan_keys(app)
    settings = get_orphan_settings()
    if keys is None or not settings.orphan_recovery:
        return CheckReport()
    own = client is None
    client = client or _client(app)
    try:
        check = OrphanCheck(client, keys, ttl=settings.orphan_heartbeat_ttl)
        started = clock.time()
        with _restore(app) as restore:
            report = check.run(lambda: restore)
    finally:
        if own:
            client.close()
    if report.total:
        moves = moves_of(report, started_at=started, finished_at=clock.time(), by=by)
        recorder.record(moves, wait=wait)
    return report


@contextlib.contextmanager
def _restore(app: Celery) -> Iterator[Restore]:
    """kombu's restore on a connection of its own, opened only if used."""
    connection: Any = None

    def pushes(raw: bytes | str) -> list[tuple[str, str]]:
        nonlocal connection
        if connection is None:
            connection = app.connection_for_write()
        return KombuRestore(connection.default_channel)(raw)

    try:
        yield pushes
    finally:
        if connection is not None:
            connection.release()


class OrphanGuard(bootsteps.StartStopStep):  # type: ignore[misc]  # Celery is untyped
    """Records the worker's held messages and keeps its heartbeat (Redis brokers only)."""

    label = "outlast orphans"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        from outlast.config._orphans import get_orphan_settings

        self.settings = get_orphan_settings()
        self.keys = orphan_keys(c.app) if self.settings.orphan_recovery else None
        self.worker = new_worker_id(str(c.hostname))
        self.thread: HeartbeatThread | None = None

    def start(self, c: Any) -> None:
        if self.keys is None:
            return
        held = self.keys.unprefixed(self.keys.held(self.worker))
        if not install(c.connection.default_channel, held_key=held):
            log.error("orphans: worker=%s held messages not recorded on this channel", self.worker)
        if self.thread is None:
            self.thread = self._start_heartbeat(c.app)

    def _start_heartbeat(self, app: Celery) -> HeartbeatThread:
        assert self.keys is not None
        settings, client = self.settings, _client(app)
        heartbeat = Heartbeat(client, self.keys, self.worker, ttl=settings.orphan_heartbeat_ttl)
        with contextlib.suppress(redis.RedisError, OSError):  # the thread tries again
            heartbeat.beat()
        thread = HeartbeatThread(
            heartbeat, interval=settings.orphan_heartbeat_interval,
            check=(lambda: check_orphans(app, client=client, by=self.worker))
            if settings.orphan_check_in_workers else None,
            check_interval=settings.orphan_heartbeat_interval,  # every beat: cheap reads
        )  # fmt: skip
        thread.start()
        log.info("orphans: worker=%s heartbeat started", self.worker)
        return thread
