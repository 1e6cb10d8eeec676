"""Per-attempt timeouts for async and sync calls, raising ``OperationTimeoutError``.

Async: the awaitable runs under ``asyncio.timeout`` and is really cancelled at the
deadline. Only our own expiry becomes ``OperationTimeoutError`` (raised from the
``TimeoutError``); a cancellation from outside stays a ``CancelledError``, and a
``TimeoutError`` the callee raised itself passes through untouched.

Sync: Python cannot interrupt or kill a thread. The call runs in a worker thread (a
lazily created module-level pool, threads named ``outlast-timeout``) and the caller stops
waiting at the deadline; the abandoned call keeps running to completion and its result
or error is discarded. ``on_finish`` runs when the call *really* finishes: at once when it
ends in time, later in the worker thread when it was abandoned, so a bulkhead permit
released there keeps capacity honest. Context variables are copied into the worker.
Known limits: a call that never returns holds a pool thread for ever (and, like any
``ThreadPoolExecutor`` work, delays interpreter exit); when every pool thread is held,
new calls queue and time out without starting. This module never sleeps.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_future
from typing import TypeVar

from outlast.errors import OperationTimeoutError

__all__ = ["call_with_timeout_async", "call_with_timeout_sync"]

T = TypeVar("T")

log = logging.getLogger("outlast.resilience")

_MAX_WORKERS = 64
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


async def call_with_timeout_async(
    fn: Callable[[], Awaitable[T]],
    timeout: float | None,  # noqa: ASYNC109 - this function is the asyncio.timeout wrapper
    *,
    operation: str,
) -> T:
    """Await ``fn()``, cancelling it after ``timeout`` seconds (None: no limit)."""
    if timeout is None:
        return await fn()
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await fn()
    except TimeoutError as error:
        if not scope.expired():
            raise  # the callee's own TimeoutError, not our deadline
        raise OperationTimeoutError(operation=operation, timeout=timeout) from error


def call_with_timeout_sync(
    fn: Callable[[], T],
    timeout: float | None,
    *,
    operation: str,
    on_finish: Callable[[], None] | None = None,
) -> T:
    """Call ``fn()``, giving up waiting after ``timeout`` seconds (None: a plain call).

    ``on_finish`` runs once, when ``fn`` has really returned or raised (see the module
    docstring for what happens to an abandoned call).
    """
    if timeout is None:
        if on_finish is None:
            return fn()
        try:
            return fn()
        finally:
            on_finish()
    return _call_in_worker(fn, timeout, operation, on_finish)


def _call_in_worker(
    fn: Callable[[], T], timeout: float, operation: str, on_finish: Callable[[], None] | None
) -> T:
    handoff = _Handoff(on_finish)
    future = _executor().submit(handoff.run, contextvars.copy_context(), fn)
    done, _ = wait_for_future((future,), timeout)
    if not done:
        if future.cancel():  # still queued: it will never run, so it is finished now
            handoff.finish()
            raise OperationTimeoutError(operation=operation, timeout=timeout)
        if handoff.abandon():
            raise OperationTimeoutError(operation=operation, timeout=timeout)
        # It finished between the wait and the abandon: its outcome is ours after all.
    try:
        return future.result()
    finally:
        handoff.finish()


class _Handoff:
    """Decides, under a lock, whether the caller or the worker runs ``on_finish``."""

    __slots__ = ("_abandoned", "_finished", "_lock", "_on_finish")

    def __init__(self, on_finish: Callable[[], None] | None) -> None:
        self._on_finish = on_finish
        self._lock = threading.Lock()
        self._finished = False
        self._abandoned = False

    def run(self, context: contextvars.Context, fn: Callable[[], T]) -> T:
        """The worker's side: run ``fn``; if the caller left, finish on its behalf."""
        try:
            return context.run(fn)
        finally:
            with self._lock:
                self._finished = True
                abandoned = self._abandoned
            if abandoned:
                self._finish_quietly()

    def abandon(self) -> bool:
        """The caller's side at the deadline: False if the call finished in the meantime."""
        with self._lock:
            if self._finished:
                return False
            self._abandoned = True
            return True

    def finish(self) -> None:
        """Run ``on_finish`` in the caller (the call ended in time, or never started)."""
        if self._on_finish is not None:
            self._on_finish()

    def _finish_quietly(self) -> None:
        # In a worker thread nobody can receive the error, so it is logged.
        try:
            self.finish()
        except Exception:
            log.exception("on_finish of an abandoned call failed")


def _executor() -> ThreadPoolExecutor:
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=_MAX_WORKERS, thread_name_prefix="outlast-timeout"
                )
            pool = _pool
    return pool


def _forget_pool_after_fork() -> None:
    # A forked child (Celery prefork) inherits the pool object but none of its threads.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
