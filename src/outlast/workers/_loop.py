"""One event loop per worker process for async task bodies.

Creating a loop per task (``asyncio.run``) throws away connection pools (redis.asyncio,
httpx, the Mongo client) on every task. Instead each worker process gets one loop when it
starts (``worker_process_init``) and async bodies run on it. A forked child never reuses
its parent's loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["close_process_loop", "process_loop", "run_on_process_loop"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_owner_pid = 0


def process_loop() -> asyncio.AbstractEventLoop:
    """This process's loop, created on first use (and again in a forked child)."""
    global _loop, _owner_pid
    if _loop is None or _loop.is_closed() or _owner_pid != os.getpid():
        _loop = asyncio.new_event_loop()
        _owner_pid = os.getpid()
    return _loop


def run_on_process_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on this process's loop."""
    return process_loop().run_until_complete(coroutine)


def close_process_loop() -> None:
    """Close this process's loop (at worker process shutdown)."""
    global _loop
    loop, _loop = _loop, None
    if loop is not None and not loop.is_closed() and _owner_pid == os.getpid():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
