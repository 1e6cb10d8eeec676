"""Each process's breakers and bulkheads, published to Redis so one reader sees the cluster.

A local breaker or bulkhead lives in one process; a health endpoint in another process
cannot ask it. So every process that runs a :class:`RegistryPublisher` writes what
``circuit_breakers()`` and ``bulkheads()`` report (their ``stats()``) every ``interval``
seconds, and at once when one of its breakers changes state (at most every
``MIN_SPACING`` seconds), as one JSON field of the hash
``link.key("registry", "snapshots")``, keyed by a process id, with the wall time it
expires at (``ttl``, three intervals by default). The whole hash expires too, so a cluster
that stops leaves nothing behind. A process that stops cleanly deletes its field; one that
dies is dropped by the next reader once its snapshot has expired. :func:`read_snapshots`
returns the live snapshots (one round trip). The same round trip that publishes reads the
operators' commands to local breakers (``_registry_commands``) and applies them here.

A forked child (Celery prefork) does not inherit the parent's thread: when the parent's
publisher was started with ``follow_forks``, each child starts its own (with its own
process id), so every pool process reports the breakers its tasks use.

Publishing never raises into its process: a Redis that does not answer only skips a round.
This module reads the registries and writes Redis; it never changes a breaker or a bulkhead.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any, Final

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.resilience._events import BreakerTransition, ResilienceEvent, add_listener
from outlast.resilience.breaker._breaker_registry import circuit_breakers
from outlast.resilience.bulkhead._bulkhead_registry import bulkheads
from outlast.resilience.shared._redis_link import RedisLink, Unavailable
from outlast.resilience.shared._registry_commands import CommandFollower, commands_key

__all__ = [
    "DEFAULT_INTERVAL",
    "RegistryPublisher",
    "read_snapshots",
    "registry_snapshot",
    "snapshots_key",
    "start_registry_publisher",
    "stop_registry_publisher",
]

log = logging.getLogger("outlast.resilience")

DEFAULT_INTERVAL: Final = 5.0
MIN_SPACING: Final = 0.05
"""Seconds between two publications at least, however fast breakers change state."""
_TTL_INTERVALS: Final = 3


def snapshots_key(link: RedisLink) -> str:
    """The hash holding every live process's snapshot on ``link``."""
    return link.key("registry", "snapshots")


def registry_snapshot() -> dict[str, Any]:
    """This process's breakers and bulkheads as their ``stats()`` report them."""
    breakers = {name: _plain(b.stats()) for name, b in circuit_breakers().items()}
    holds = {name: _plain(dict(b.stats())) for name, b in bulkheads().items()}
    return {"breakers": breakers, "bulkheads": holds}


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` with enum values as their text (JSON-ready)."""
    return {k: getattr(v, "value", v) for k, v in stats.items()}


def _new_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RegistryPublisher:
    """Writes this process's registry snapshot to ``link`` every ``interval`` seconds."""

    def __init__(
        self,
        link: RedisLink,
        *,
        interval: float = DEFAULT_INTERVAL,
        ttl: float | None = None,
        clock: Clock | None = None,
        follow_forks: bool = False,
        follower: CommandFollower | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.link = link
        self.interval = interval
        self.ttl = ttl if ttl is not None else interval * _TTL_INTERVALS
        self.clock = clock or SYSTEM_CLOCK
        self.follow_forks = follow_forks
        self.process_id = _new_process_id()
        self.follower = follower or CommandFollower()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pid = os.getpid()
        self._unlisten: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the publishing thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def publish_once(self) -> bool:
        """Write the snapshot now, and apply the operators' commands to this process's local
        breakers (publishing again when one moved); False when Redis did not answer."""
        now = self.clock.time()
        body = {
            "process": self.process_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "published_at": now,
            "expires_at": now + self.ttl,
            **registry_snapshot(),
        }
        key, payload, ttl_ms = snapshots_key(self.link), json.dumps(body), int(self.ttl * 1000)

        commands = commands_key(self.link)

        def write(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.hset(key, self.process_id, payload)
            pipe.pexpire(key, ttl_ms)
            pipe.hgetall(commands)
            return pipe.execute()

        answer = self.link.call(write)
        if isinstance(answer, Unavailable):
            return False
        if self.follower.apply(answer[2], now):
            self._wake.set()  # publish the moved breakers now
        return True

    def start(self) -> RegistryPublisher:
        """Publish now and every ``interval`` in a daemon thread until :meth:`stop`."""
        if self.running:
            return self
        self._stop.clear()
        self._unlisten = add_listener(self._on_event)
        self._thread = threading.Thread(
            target=self._serve, name="outlast-registry-publisher", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, *, withdraw: bool = True) -> None:
        """Stop publishing and (when ``withdraw``) delete this process's snapshot."""
        self._stop.set()
        self._wake.set()
        unlisten, self._unlisten = self._unlisten, None
        if unlisten is not None:
            unlisten()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        if withdraw:
            key = snapshots_key(self.link)
            self.link.call(lambda client: client.hdel(key, self.process_id))

    def _on_event(self, event: ResilienceEvent) -> None:
        """A breaker of this process changed state: publish now, not at the next interval.
        In a forked child this (the parent's) publisher stays subscribed but does nothing:
        its event's lock was copied in whatever state the fork found it."""
        if isinstance(event, BreakerTransition) and os.getpid() == self._pid:
            self._wake.set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.publish_once()
            except Exception:  # a stats() that fails must not end the thread
                log.exception("registry snapshot not published")
            if self._stop.wait(MIN_SPACING):
                return
            self._wake.wait(max(0.0, self.interval - MIN_SPACING))

    def _forked(self) -> RegistryPublisher | None:
        """The publisher a forked child runs in place of this one (None: none)."""
        if not self.follow_forks or not self._thread:
            return None
        return RegistryPublisher(
            self.link, interval=self.interval, ttl=self.ttl, clock=self.clock, follow_forks=True,
            follower=CommandFollower(self.follower.applied),
        )  # fmt: skip


def read_snapshots(link: RedisLink, *, now: float | None = None) -> list[dict[str, Any]] | None:
    """Every live process's snapshot (expired ones are deleted); None if Redis is down."""
    key = snapshots_key(link)
    answer = link.call(lambda client: client.hgetall(key))
    if isinstance(answer, Unavailable):
        return None
    moment = link.clock.time() if now is None else now
    live: list[dict[str, Any]] = []
    stale: list[Any] = []
    for field, raw in answer.items():
        try:
            snapshot = json.loads(raw)
        except ValueError:
            stale.append(field)
            continue
        if float(snapshot.get("expires_at", 0)) < moment:
            stale.append(field)
        else:
            live.append(snapshot)
    if stale:
        link.call(lambda client: client.hdel(key, *stale))
    return sorted(live, key=lambda s: str(s.get("process", "")))


# -- the process's publisher -------------------------------------------------------------

_current: RegistryPublisher | None = None
_current_lock = threading.Lock()


def start_registry_publisher(
    link: RedisLink, *, interval: float = DEFAULT_INTERVAL, follow_forks: bool = True
) -> RegistryPublisher:
    """Start this process's publisher (once; later calls return the running one)."""
    global _current
    with _current_lock:
        if _current is None or not _current.running:
            _current = RegistryPublisher(link, interval=interval, follow_forks=follow_forks)
            _current.start()
        return _current


def stop_registry_publisher() -> None:
    """Stop this process's publisher and withdraw its snapshot, if one runs."""
    global _current
    with _current_lock:
        publisher, _current = _current, None
    if publisher is not None:
        publisher.stop()


def _after_fork_in_child() -> None:
    """The parent's thread is gone here; a publisher that follows forks starts afresh."""
    global _current, _current_lock
    _current_lock = threading.Lock()
    parent, _current = _current, None
    if parent is not None:
        child = parent._forked()
        if child is not None:
            _current = child.start()


os.register_at_fork(after_in_child=_after_fork_in_child)
