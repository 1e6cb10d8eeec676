"""Keep an idempotency claim alive while its attempt runs.

A claim is a lease: short, so that the work of a worker that died (SIGKILL, lost host)
can be taken over soon after its lease ends, and renewed every third of it while the
attempt is still running, so that a live worker's long call is never run a second time
beside it. The renewal is a timer on the worker's event loop, not a task per attempt: an
attempt shorter than a third of the lease (nearly all of them) costs one timer handle.

A renewal that finds the claim gone (it lapsed and another worker took it over) or the
store down is logged; the attempt runs on, since cutting a payment off mid-request would
not undo it, and the gateway's own idempotency key still holds.
"""

from __future__ import annotations

import asyncio
import logging

from outlast.store import Store, StoreUnavailableError

__all__ = ["ClaimKeeper"]

log = logging.getLogger("outlast.workers")


class ClaimKeeper:
    """Renews the claim on ``key`` held with ``token`` every ``lease / 3`` seconds until
    ``stop``; ``lost`` says whether a renewal found the claim taken over."""

    def __init__(self, store: Store, key: str, token: str, *, lease: float) -> None:
        self._store = store
        self._key = key
        self._token = token
        self._lease = lease
        self._timer: asyncio.TimerHandle | None = None
        self._renewal: asyncio.Task[None] | None = None
        self.renewals = 0
        self.lost = False

    def start(self) -> None:
        """Schedule the first renewal on the running loop."""
        self._schedule()

    async def stop(self) -> None:
        """Stop renewing (the attempt is over); waits for a renewal in flight to end."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        renewal, self._renewal = self._renewal, None
        if renewal is not None:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._lease / 3, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._renewal = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        try:
            kept = await self._store.renew_idempotency(self._key, self._token, lease=self._lease)
        except StoreUnavailableError as error:
            log.warning("claim on %r not renewed, store unavailable: %s", self._key, error)
            kept = True  # try again at the next tick; the lease may still hold
        except Exception:
            log.exception("claim on %r not renewed", self._key)
            kept = True
        if not kept:
            self.lost = True
            log.warning("claim on %r lapsed while its attempt ran", self._key)
            return
        self.renewals += 1
        self._schedule()
