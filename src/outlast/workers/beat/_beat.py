"""Celery beat that sends the schedule from one process only, however many beats run.

``LeaderScheduler`` is the app's ``beat_scheduler``, so ``celery -A outlast.workers beat``,
``outlast beat`` and a worker's embedded beat (``-B``) all use it. It keeps Celery's
in-memory schedule built from ``beat_schedule`` (no schedule file) and sends a due task
only while this process holds the beat's leader lease in Redis (see ``_leader_lease``).
Every tick renews the lease or tries to take it, and no tick sleeps longer than a third of
the lease time (``OUTLAST_BEAT_LEASE_TTL``), so a standby takes over within about one lease
time after the leader dies, and within a third of it after the leader stops cleanly and
gives the lease back.

A standby ticks through the schedule as the leader does and skips what comes due: its
schedule stays in step, so on taking over it sends each entry at its next time instead of
sending again what the leader already sent. A run that falls due between the leader's death
and the takeover is skipped; the built-in job (releasing parked retries) catches up at its
next run.

While Redis does not answer, nothing is sent (this process cannot prove it leads) and beat
keeps ticking; it says so once per outage and leads again when Redis answers and the lease
is free.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from celery.beat import Scheduler

from outlast.errors import ConfigurationError
from outlast.resilience.shared._redis_link import Unavailable, link_for
from outlast.workers.beat._leader_lease import LeaderLease

__all__ = ["LEASE_CONFIG", "LeaderScheduler", "lease_for"]

log = logging.getLogger("outlast.workers.beat")

LEASE_CONFIG: Final = "outlast_beat_lease"
"""The app setting (made by ``celery_config``) naming the lease's Redis, namespace and ttl."""


def lease_for(app: Any) -> LeaderLease:
    """The beat leader lease of ``app``'s namespace, in its Redis (nothing connects yet)."""
    config = app.conf.get(LEASE_CONFIG)
    if not config:
        raise ConfigurationError(
            f"LeaderScheduler needs the {LEASE_CONFIG!r} setting of an app made by "
            "outlast.workers.create_app"
        )
    link = link_for(config["redis_url"], config["namespace"])
    return LeaderLease(link, link.key("beat", "leader"), ttl=float(config["ttl"]))


class LeaderScheduler(Scheduler):  # type: ignore[misc]  # Celery's Scheduler is untyped
    """A Celery beat scheduler that sends due tasks only while it holds the leader lease."""

    max_interval: float  # Celery's: the longest a tick may ask to sleep

    def __init__(self, app: Any, *args: Any, lease: LeaderLease | None = None, **kwargs: Any):
        self.lease = lease or lease_for(app)
        self._role = "starting"
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(self.max_interval, self.lease.recheck_interval)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Renew or take the lease, then run Celery's tick (which sends at most one entry)."""
        self._note(self.lease.hold())
        return float(super().tick(*args, **kwargs))

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Send ``entry`` if this process leads; a standby skips it."""
        if self.lease.held:
            super().apply_entry(entry, producer=producer)
        else:
            log.debug("beat: not the leader, %s skipped", entry.name)

    def close(self) -> None:
        """Give the lease back (a standby takes over at its next check), then close."""
        try:
            self.lease.release()
        finally:
            super().close()

    @property
    def info(self) -> str:
        """The line ``celery beat`` prints under the scheduler's name at start."""
        return f"    . leader lease -> {self.lease.key} ({self.lease.ttl:g} s)"

    def _note(self, answer: bool | Unavailable) -> None:
        """Log each change of role, once."""
        role = (
            "unreachable" if isinstance(answer, Unavailable) else "leader" if answer else "standby"
        )
        if role == self._role:
            return
        key = self.lease.key
        if role == "leader":
            log.info("beat: holds the leader lease %s; sending due tasks", key)
        elif role == "unreachable":
            log.warning(
                "beat: cannot reach Redis to check the leader lease %s; "
                "sending nothing until it answers",
                key,
            )
        elif self._role == "leader":
            log.warning("beat: lost the leader lease %s to another beat; sending nothing", key)
        else:
            log.info(
                "beat: standby, another beat holds the leader lease %s; checking every %.2g s",
                key,
                self.lease.recheck_interval,
            )
        self._role = role
