"""Idempotency claims for sync attempts: the sync Redis client and one renewal thread.

A sync attempt blocks its thread, so the claims of this process's running sync attempts
are renewed by one daemon thread (started on first use, and again in a forked child). It
wakes every sixth of the lease and renews each claim held longer than a third of it: an
attempt shorter than that (nearly all) costs a dict insert and delete, no round trip. A
renewal that finds the claim taken over marks it ``lost`` and logs; the attempt runs on,
as with the async driver's ``ClaimKeeper``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from outlast.store import IdempotencyClaim, RedisSyncClaims, StoreUnavailableError

__all__ = ["HeldClaim", "SyncClaimer"]

log = logging.getLogger("outlast.workers")


@dataclass(slots=True, eq=False)
class HeldClaim:
    """A claim held by a running sync attempt, as the renewal thread sees it."""

    key: str
    token: str
    renewed_at: float = field(default_factory=time.monotonic)
    renewals: int = 0
    lost: bool = False


class SyncClaimer:
    """Claims of ``lease`` seconds through ``claims``, renewed while their attempt runs."""

    def __init__(self, claims: RedisSyncClaims, *, lease: float) -> None:
        self.claims = claims
        self.lease = lease
        self._held: dict[int, HeldClaim] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def claim(self, key: str) -> IdempotencyClaim:
        """Claim ``key`` for one lease."""
        return self.claims.claim(key, lease=self.lease)

    def complete(self, key: str, token: str, result: Any) -> bool:
        """Record the result of the claim held with ``token``."""
        return self.claims.complete(key, token, result)

    def release(self, key: str, token: str) -> bool:
        """Give up the claim held with ``token``."""
        return self.claims.release(key, token)

    @contextlib.contextmanager
    def held(self, key: str, token: str) -> Iterator[HeldClaim]:
        """Renew the claim on ``key`` held with ``token`` while the block runs."""
        holding = HeldClaim(key, token)
        with self._lock:
            self._ensure_thread()
            self._held[id(holding)] = holding
        try:
            yield holding
        finally:
            with self._lock:
                self._held.pop(id(holding), None)

    def close(self) -> None:
        """Stop the renewal thread and close the client."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self.claims.close()

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
            self._pid, self._thread, self._held = os.getpid(), None, {}
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="outlast-claim-renewer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 6):
            now = time.monotonic()
            with self._lock:
                due = [h for h in self._held.values() if now - h.renewed_at >= self.lease / 3]
            for holding in due:
                self._renew(holding)

    def _renew(self, holding: HeldClaim) -> None:
        try:
            kept = self.claims.renew(holding.key, holding.token, lease=self.lease)
        except StoreUnavailableError as error:
            log.warning("claim on %r not renewed, store unavailable: %s", holding.key, error)
            return
        except Exception:  # the thread every sync claim relies on must not die of a bug
            log.exception("claim on %r not renewed", holding.key)
            return
        if not kept:
            holding.lost = True
            log.warning("claim on %r lapsed while its attempt ran", holding.key)
            with self._lock:
                self._held.pop(id(holding), None)
            return
        holding.renewals += 1
        holding.renewed_at = time.monotonic()
