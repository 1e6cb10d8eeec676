"""The background threads that keep cluster breakers in step with Redis.

One :class:`StateSync` per Redis link and object kind ("cb") in each process runs two daemon
threads for every member (every cluster breaker on that link):

* the *flusher* wakes every ``flush_interval`` (or at once when a member calls ``wake``),
  asks each member for its pending write (a Lua call), sends them all in one pipelined
  round trip, and hands each reply back; every ``sync_interval`` it asks for a read as well,
  which covers lost pub/sub messages;
* the *listener* subscribes to the link's channel for the kind and hands each published
  view to the members of that name; after (re)subscribing it asks for a full read.

Neither thread ever dies of a Redis error: a failed round trip is reported to the members
(``undelivered``) and retried on the next tick; the link logs the outage once and skips
calls for its ``retry_interval``. A forked child gets new hubs and threads: members are
detached in the child and re-attach on their next use. :func:`stop_state_sync` stops the
threads (tests do, between cases); :func:`flush_pending_state` runs at exit (and in a
worker's pool process as it shuts down, where ``atexit`` does not run).

Waiting is real (``threading.Event.wait``): these threads exist to follow real time, and a
wait that must end early when woken cannot go through ``Clock.sleep``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from outlast.resilience.breaker._redis_breaker_scripts import LuaScript
from outlast.resilience.shared._redis_link import REDIS_ERRORS, RedisLink, Unavailable

__all__ = [
    "Outgoing",
    "StateSync",
    "SyncMember",
    "flush_pending_state",
    "state_sync_for",
    "stop_state_sync",
]

log = logging.getLogger("outlast.redis")

Outgoing = tuple[LuaScript, Sequence[str], Sequence[object]]
"""One Lua call: the script, its keys, its arguments."""

_LISTEN_POLL = 0.1  # seconds the listener waits for a message before checking for stop
_JOIN_TIMEOUT = 2.0


class SyncMember(Protocol):
    """What the threads need from an object whose state lives in Redis."""

    @property
    def name(self) -> str:
        """The object's name (pub/sub messages are routed by it)."""
        ...

    def outgoing(self, *, read: bool) -> Outgoing | None:
        """The write to send now (a read too when ``read``), or None for nothing."""
        ...

    def delivered(self, reply: Any) -> Callable[[], None] | None:
        """Redis answered the last ``outgoing`` call with ``reply``; returns what to run
        once the flush is over (telling listeners of a transition), if anything."""
        ...

    def undelivered(self) -> None:
        """The last ``outgoing`` call did not reach Redis (keep it for the next one)."""
        ...

    def announced(self, payload: bytes) -> None:
        """Another process published this object's new view."""
        ...

    def detach_after_fork(self) -> None:
        """This is a forked child: drop the parent's hub and locks."""
        ...


class StateSync:
    """The flusher and listener threads of one link and kind in this process."""

    def __init__(
        self, link: RedisLink, *, kind: str, flush_interval: float, sync_interval: float
    ) -> None:
        self.link = link
        self.kind = kind
        self.flush_interval = flush_interval
        self.sync_interval = sync_interval
        self._members: weakref.WeakSet[SyncMember] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._read_all = True
        self._threads: list[threading.Thread] = []

    def add(self, member: SyncMember) -> None:
        """Serve ``member`` from now on (its view is read on the next tick)."""
        with self._lock:
            self._members.add(member)
            if not self._threads and not self._stop.is_set():
                self._start()
        self.request_read()

    def request_read(self) -> None:
        """Read every member's view on the next tick, and make that tick now."""
        self._read_all = True
        self._wake.set()

    def wake(self) -> None:
        """Flush now instead of at the next interval (an outcome that may move the state)."""
        self._wake.set()

    def members(self) -> list[SyncMember]:
        """A snapshot of the members still alive."""
        with self._lock:
            return list(self._members)

    def flush(self, members: Sequence[SyncMember], *, read: bool) -> bool:
        """Send the pending writes of ``members`` in one round trip; False if Redis did not
        answer. Flushes are serialized, so views arrive in the order they were written;
        listeners hear of transitions after the flush, so they may flush or control too."""
        afterwards: list[Callable[[], None]] = []
        with self._flush_lock:
            calls = [(m, out) for m in members if (out := m.outgoing(read=read)) is not None]
            if not calls:
                return True
            replies = self.link.call(lambda client: _run_pipeline(client, calls))
            if isinstance(replies, Unavailable):
                for member, _ in calls:
                    member.undelivered()
                return False
            for (member, _), reply in zip(calls, replies, strict=True):
                if isinstance(reply, Exception):
                    log.error("lua call for %s %r failed: %s", self.kind, member.name, reply)
                    member.undelivered()
                elif (then := member.delivered(reply)) is not None:
                    afterwards.append(then)
        for then in afterwards:
            then()
        return True

    def close(self) -> None:
        """Stop both threads and forget every member."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            threads, self._threads = self._threads, []
            self._members = weakref.WeakSet()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)

    # -- threads ------------------------------------------------------------------------

    def _start(self) -> None:
        for target, role in ((self._flush_loop, "flush"), (self._listen_loop, "listen")):
            thread = threading.Thread(
                target=target, name=f"outlast-{self.kind}-{role}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _flush_loop(self) -> None:
        next_read = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = self.link.clock.monotonic()
            read = self._read_all or now >= next_read
            if read:
                self._read_all = False
                next_read = now + self.sync_interval
            try:
                self.flush(self.members(), read=read)
            except Exception:  # a bug must not stop the thread that every breaker relies on
                log.exception("flushing %s state to redis failed", self.kind)

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            if not self.link.available:
                self._stop.wait(_LISTEN_POLL)
                continue
            pubsub: Any = None
            try:
                pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.link.channel(self.kind))
                self.request_read()  # whatever was published while we were not listening
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=_LISTEN_POLL)
                    if message is not None:
                        self._dispatch(message["data"])
            except REDIS_ERRORS as error:
                self.link.mark_down(error)
            except Exception:
                log.exception("listening for %s changes failed", self.kind)
                self._stop.wait(_LISTEN_POLL)
            finally:
                if pubsub is not None:
                    _close_quietly(pubsub)

    def _dispatch(self, data: bytes) -> None:
        """Route ``<len(name)>:<name><payload>`` to the members called ``name``."""
        length, _, rest = data.partition(b":")
        size = int(length)
        name, payload = rest[:size].decode(), rest[size:]
        for member in self.members():
            if member.name == name:
                member.announced(payload)


def _run_pipeline(client: Any, calls: Sequence[tuple[SyncMember, Outgoing]]) -> list[Any]:
    """Every call in one pipelined round trip; scripts Redis does not know are loaded."""
    pipeline = client.pipeline(transaction=False)
    for _, (script, keys, args) in calls:
        script.queue(pipeline, keys, args)
    replies: list[Any] = pipeline.execute(raise_on_error=False)
    for index, reply in enumerate(replies):
        if isinstance(reply, NoScriptError):
            script, keys, args = calls[index][1]
            replies[index] = script(client, keys, args)
    return replies


def _close_quietly(pubsub: Any) -> None:
    with contextlib.suppress(*REDIS_ERRORS):
        pubsub.close()


_hubs: dict[tuple[int, str], StateSync] = {}
_hubs_lock = threading.Lock()


def state_sync_for(
    link: RedisLink, *, kind: str, flush_interval: float, sync_interval: float
) -> StateSync:
    """The hub of ``link`` and ``kind`` in this process (its first caller sets the intervals)."""
    key = (id(link), kind)
    with _hubs_lock:
        hub = _hubs.get(key)
        if hub is None or hub.link is not link:
            hub = _hubs[key] = StateSync(
                link, kind=kind, flush_interval=flush_interval, sync_interval=sync_interval
            )
        return hub


def stop_state_sync(link: RedisLink | None = None) -> None:
    """Stop the threads of ``link`` (of every link when None) and forget their hubs."""
    with _hubs_lock:
        chosen = [k for k, hub in _hubs.items() if link is None or hub.link is link]
        stopping = [_hubs.pop(k) for k in chosen]
    for hub in stopping:
        hub.close()


def flush_pending_state() -> None:
    """Send what every member in this process still holds, now (at exit: outcomes and a trip
    recorded since the last tick reach the cluster before the process is gone). A Redis
    that is down is skipped at once; a failed flush is logged, never raised."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if not hub.link.available:
            continue
        try:
            hub.flush(hub.members(), read=False)
        except Exception:
            log.exception("flushing %s state to redis at exit failed", hub.kind)


atexit.register(flush_pending_state)


def _after_fork_in_child() -> None:
    """The parent's threads do not exist here: detach members; new hubs start on use."""
    global _hubs_lock
    _hubs_lock = threading.Lock()
    hubs = list(_hubs.values())
    _hubs.clear()
    for hub in hubs:
        for member in list(hub._members):
            member.detach_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
