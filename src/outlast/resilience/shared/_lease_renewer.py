"""Lease renewal for cluster bulkheads: one daemon thread per Redis link.

A cluster bulkhead permit is a lease that Redis forgets after ``lease`` seconds, so a permit
of a process that dies comes back by itself. A call that runs longer than its lease must
not lose its permit that way: the renewer extends every lease held longer than a third of
its lease time. It wakes every sixth of the shortest lease time it serves, so a lease is
always extended with at least half of its time left; one wake-up renews every due lease of
every bulkhead on the link in one pipelined round trip.

The thread is a daemon, started on first use, one per link and per process (a forked child
starts its own), and it never dies of a Redis error: while Redis is down the round trip
returns UNAVAILABLE (the link logs the outage once) and the thread keeps going.
:func:`stop_lease_renewers` stops every thread (tests do, between cases).

This module never takes or gives a permit: what a bulkhead holds is the bulkhead's business;
the renewer only asks it which leases are due and tells it what came of the renewal, and
asks it to catch up with Redis after an outage.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from outlast.resilience.bulkhead._redis_bulkhead_scripts import RENEW
from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = ["LeaseHolder", "LeaseRenewer", "renewer_for", "stop_lease_renewers"]

log = logging.getLogger("outlast.resilience.bulkhead")

_IDLE_WAKE = 1.0  # seconds between wake-ups while no bulkhead is watched
_SHORTEST_WAKE = 0.01


class LeaseHolder(Protocol):
    """What a renewer needs from a bulkhead that holds leases."""

    @property
    def lease_key(self) -> str:
        """The sorted set its leases live in."""
        ...

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts without renewal."""
        ...

    @property
    def capacity(self) -> int:
        """How many leases may be live at once, cluster-wide."""
        ...

    def due_leases(self) -> tuple[list[str], float]:
        """The lease ids to renew now, and the holder's clock reading taken before."""
        ...

    def leases_renewed(self, renewed: list[str], at: float) -> None:
        """Record that ``renewed`` were extended (or written back) at ``at``."""
        ...

    def catch_up(self) -> None:
        """Settle with Redis what it missed while it did not answer, if it answers now."""
        ...


class LeaseRenewer:
    """The renewal thread of one link in this process."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._holders: weakref.WeakSet[LeaseHolder] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._failing = False

    @property
    def running(self) -> bool:
        """Whether this process's thread is serving (False after stop or in a forked child)."""
        return self._thread is not None and self._pid == os.getpid() and not self._stop.is_set()

    def watch(self, holder: LeaseHolder) -> None:
        """Renew ``holder``'s leases from now on; starts the thread if it is not running."""
        with self._lock:
            self._holders.add(holder)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._serve, name=f"outlast-lease-renewer-{self.link.namespace}"
                )
                self._thread.daemon = True
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (a renewal in flight finishes first)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def renew_due(self) -> None:
        """Renew every due lease of every watched bulkhead in one round trip.

        A bulkhead that took permits while Redis did not answer first writes them as leases,
        and removes the leases Redis may have granted to grants whose answer was lost (one
        more round trip, only then).
        """
        holders = self._snapshot()
        for holder in holders:
            holder.catch_up()
        batches = [(holder, *holder.due_leases()) for holder in holders]
        batches = [batch for batch in batches if batch[1]]
        if not batches:
            return
        answers = self.link.call(lambda client: _send(client, batches))
        if isinstance(answers, Unavailable):
            return
        for (holder, ids, at), crowded in zip(batches, answers, strict=True):
            if crowded:
                log.warning(
                    "bulkhead lease set %s: %d lease(s) expired while held and every permit "
                    "was taken meanwhile; those calls ran beyond the cluster capacity and "
                    "count again, so no permit is granted until fewer are held",
                    holder.lease_key,
                    len(crowded),
                )
            holder.leases_renewed(ids, at)

    def _snapshot(self) -> list[LeaseHolder]:
        with self._lock:
            return list(self._holders)

    def _wake_interval(self) -> float:
        holders = self._snapshot()
        if not holders:
            return _IDLE_WAKE
        return max(_SHORTEST_WAKE, min(holder.lease_seconds for holder in holders) / 6)

    def _serve(self) -> None:
        while not self._stop.wait(self._wake_interval()):
            try:
                self.renew_due()
            except Exception:  # the thread must outlive any surprise; say so once per streak
                if not self._failing:
                    log.warning("bulkhead lease renewal failed; will keep trying", exc_info=True)
                self._failing = True
            else:
                self._failing = False


def _send(client: Any, batches: list[tuple[LeaseHolder, list[str], float]]) -> list[Any]:
    """One pipelined RENEW per bulkhead; loads the script once if the server lost it."""
    try:
        return _pipeline(client, batches)
    except NoScriptError:
        RENEW.load(client)
        return _pipeline(client, batches)


def _pipeline(client: Any, batches: list[tuple[LeaseHolder, list[str], float]]) -> list[Any]:
    pipeline = client.pipeline(transaction=False)
    for holder, ids, _ in batches:
        lease_ms = max(1, round(holder.lease_seconds * 1000))
        RENEW.queue(pipeline, [holder.lease_key], [lease_ms, holder.capacity, *ids])
    answers: list[Any] = pipeline.execute()
    return answers


_renewers: dict[RedisLink, LeaseRenewer] = {}
_renewers_lock = threading.Lock()


def _forget_renewers_in_child() -> None:
    """A forked child has no renewer threads; its lock may have been copied held."""
    global _renewers_lock
    _renewers_lock = threading.Lock()
    _renewers.clear()


os.register_at_fork(after_in_child=_forget_renewers_in_child)


def renewer_for(link: RedisLink) -> LeaseRenewer:
    """This process's running renewer for ``link`` (a new one after a fork or a stop)."""
    with _renewers_lock:
        renewer = _renewers.get(link)
        if renewer is None or renewer._pid != os.getpid() or renewer._stop.is_set():
            renewer = _renewers[link] = LeaseRenewer(link)
        return renewer


def stop_lease_renewers() -> None:
    """Stop every renewal thread of this process (leases then expire unless renewed anew)."""
    with _renewers_lock:
        renewers = list(_renewers.values())
        _renewers.clear()
    for renewer in renewers:
        if renewer._pid == os.getpid():
            renewer.stop()
