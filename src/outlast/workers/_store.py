"""The durable store a worker process uses, opened once per process from the settings,
and the sync claims made on it for sync operations (Redis stores only)."""

from __future__ import annotations

import os

from outlast.config import get_settings
from outlast.store import RedisStore, Store, open_store
from outlast.workers.execution._sync_claimer import SyncClaimer

__all__ = ["set_worker_store", "worker_claimer", "worker_store"]

_store: Store | None = None
_claimer: SyncClaimer | None = None
_pid = 0


def worker_store() -> Store:
    """This process's store (a forked child opens its own)."""
    global _store, _claimer, _pid
    if _store is None or _pid != os.getpid():
        _store, _claimer, _pid = open_store(), None, os.getpid()
    return _store


def worker_claimer() -> SyncClaimer | None:
    """Sync claims on this process's store, or None when the store is not Redis (sync
    operations then claim through the async store, on the worker's loop)."""
    global _claimer
    store = worker_store()
    if _claimer is None and isinstance(store, RedisStore):
        _claimer = SyncClaimer(store.sync_claims(), lease=get_settings().idempotency_claim_lease)
    return _claimer


def set_worker_store(store: Store | None) -> None:
    """Use ``store`` in this process (None: open one from the settings on next use)."""
    global _store, _claimer, _pid
    _store, _claimer, _pid = store, None, os.getpid()
