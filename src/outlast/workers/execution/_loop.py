"""One event loop per worker process (per pool thread under ``-P threads``) for async bodies.

Creating a loop per task (``asyncio.run``) throws away connection pools (redis.asyncio,
httpx, the Mongo client) on every task. Instead each worker process gets one loop when it
starts (``worker_process_init``) and async bodies run on it. A loop runs one task at a time,
so under the threads pool each pool thread has a loop of its own (a prefork child runs
its tasks on its main thread: one loop per process). A forked child never reuses its
parent's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["close_process_loop", "process_loop", "run_on_process_loop"]

T = TypeVar("T")


class _ThreadLoop(threading.local):
    loop: asyncio.AbstractEventLoop | None = None
    owner_pid = 0


_current = _ThreadLoop()


def process_loop() -> asyncio.AbstractEventLoop:
    """This worker's loop (this thread's), created on first use (and anew in a forked child)."""
    loop = _current.loop
    if loop is None or loop.is_closed() or _current.owner_pid != os.getpid():
        loop = _current.loop = asyncio.new_event_loop()
        _current.owner_pid = os.getpid()
    return loop


def run_on_process_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on this worker's loop; interrupted from outside (a
    soft time limit raised while the loop waits), it is cancelled before the error goes on,
    so it can never resume beside the process's next task."""
    loop = process_loop()
    task = loop.create_task(coroutine)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise


def close_process_loop() -> None:
    """Close this thread's loop (at worker process shutdown)."""
    loop, _current.loop = _current.loop, None
    if loop is not None and not loop.is_closed() and _current.owner_pid == os.getpid():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
