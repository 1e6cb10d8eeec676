"""Maintenance tasks: a ping that proves a worker answers, and the release of parked retries."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from outlast.store import Store
from outlast.workers import app, run_on_process_loop
from outlast.workers._store import worker_store

__all__ = ["ping", "release_due_retries", "release_due_retries_from"]

log = logging.getLogger("outlast.workers")

# A taken retry stays in the schedule this long until it is confirmed sent, so a
# releaser that dies in between loses nothing: the retry comes due again.
RELEASE_LEASE = 60.0


@app.task(name="outlast.maintenance.ping")
def ping() -> dict[str, Any]:
    """Answer with this worker process's host and pid (a liveness probe that runs a task)."""
    return {"pong": True, "host": socket.gethostname(), "pid": os.getpid()}


@app.task(name="outlast.maintenance.release_due_retries")
def release_due_retries(limit: int = 500) -> int:
    """Send every parked retry that is due (run by beat); returns how many were sent."""
    return run_on_process_loop(release_due_retries_from(worker_store(), limit=limit))


async def release_due_retries_from(store: Store, *, limit: int = 500) -> int:
    """Send the due retries of ``store``; each is confirmed (removed) only once sent."""
    sent = 0
    for retry in await store.take_due_retries(limit=limit, lease=RELEASE_LEASE):
        try:
            app.send_task(
                retry.task_name,
                args=retry.args,
                kwargs=retry.kwargs,
                queue=retry.queue,
                task_id=retry.task_id,
            )
        except Exception as error:  # not sent: it comes due again after the lease
            log.warning("could not release retry %s: %s", retry.id, type(error).__name__)
            continue
        await store.cancel_retry(retry.id)
        sent += 1
    return sent
