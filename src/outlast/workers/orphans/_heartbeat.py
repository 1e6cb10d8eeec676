"""A worker's heartbeat in the broker's Redis, beaten from a thread of its own.

Each beat sets ``outlast:<ns>:orphans:alive:<worker>`` to expire ``ttl`` seconds later
and adds the worker to the registry the orphan check reads (``_orphans``). The beat runs
in a daemon thread, not on the worker's event loop: a loop busy for a while is not a dead
worker, and the beats must go on through a warm shutdown while the pool finishes its
tasks (the thread ends with the process, and the key lapses ``ttl`` seconds later). The
same thread may run the orphan check every ``check_interval`` seconds (the worker's guard
runs it after every beat), so a dead worker's messages come back without a ``recovery``
worker or beat.

A beat that finds its previous key already expired means this worker was out of touch
longer than the TTL (a frozen process, a partition): other workers may have moved the
messages it held, and it says so in the log. Failures are logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.workers.orphans._orphan_keys import OrphanKeys

__all__ = ["Heartbeat", "HeartbeatThread"]

log = logging.getLogger("outlast.workers.orphans")

_DRIVER_ERRORS = (redis.RedisError, OSError)


class Heartbeat:
    """One worker's beat: its key with a TTL, and its entry in the registry."""

    def __init__(
        self, client: redis.Redis, keys: OrphanKeys, worker: str, *, ttl: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:  # fmt: skip
        self.client = client
        self.keys = keys
        self.worker = worker
        self.ttl = ttl
        self.clock = clock
        self.beats = 0

    def beat(self) -> bool:
        """Beat once (one round trip); False when the previous beat had already lapsed."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(
                self.keys.alive(self.worker), repr(self.clock.time()),
                px=max(1, int(self.ttl * 1000)), get=True,
            )  # fmt: skip
            pipe.sadd(self.keys.workers, self.worker)
            previous, _ = pipe.execute()
        self.beats += 1
        if previous is None and self.beats > 1:
            log.error(
                "orphans: worker=%s heartbeat lapsed (no beat for over %.1f s); messages it "
                "held may have been moved back to their queues and run elsewhere",
                self.worker, self.ttl,
            )  # fmt: skip
            return False
        return True


class HeartbeatThread(threading.Thread):
    """Beats every ``interval`` seconds and, given a ``check``, runs it every
    ``check_interval`` seconds, until :meth:`stop` or the end of the process."""

    def __init__(
        self, heartbeat: Heartbeat, *, interval: float,
        check: Callable[[], object] | None = None, check_interval: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:  # fmt: skip
        super().__init__(name="outlast-heartbeat", daemon=True)
        self.heartbeat = heartbeat
        self.interval = interval
        self.check = check
        self.check_interval = check_interval
        self.clock = clock
        self.stopped = threading.Event()
        self.next_check = clock.monotonic() + check_interval

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """One beat, then the check if it is due; errors are logged."""
        try:
            self.heartbeat.beat()
        except _DRIVER_ERRORS as error:
            log.warning("orphans: worker=%s heartbeat failed: %s", self.heartbeat.worker, error)
        if self.check is None or self.clock.monotonic() < self.next_check:
            return
        self.next_check = self.clock.monotonic() + self.check_interval
        try:
            self.check()
        except Exception as error:  # a check that fails is tried again at the next one
            log.warning("orphans: check failed: %s: %s", type(error).__name__, error)

    def stop(self) -> None:
        self.stopped.set()
