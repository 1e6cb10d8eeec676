"""The durable store a worker process uses, opened once per process from the settings."""

from __future__ import annotations

import os

from outlast.store import Store, open_store

__all__ = ["set_worker_store", "worker_store"]

_store: Store | None = None
_pid = 0


def worker_store() -> Store:
    """This process's store (a forked child opens its own)."""
    global _store, _pid
    if _store is None or _pid != os.getpid():
        _store, _pid = open_store(), os.getpid()
    return _store


def set_worker_store(store: Store | None) -> None:
    """Use ``store`` in this process (None: open one from the settings on next use)."""
    global _store, _pid
    _store, _pid = store, os.getpid()
