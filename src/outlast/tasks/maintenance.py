"""Maintenance tasks: a ping that proves a worker answers, the release of parked retries,
and the ledger sweep that sends again what the broker lost before it started."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from outlast._clock import SYSTEM_CLOCK
from outlast.config import get_settings
from outlast.store import ScheduledRetry, Store
from outlast.workers import app, run_on_process_loop
from outlast.workers._store import worker_store
from outlast.workers.sending._ledger import LedgerEntry, ledger_for, process_ledger, record_sent
from outlast.workers.sending._ledger_sweep import BrokerView, sweep

__all__ = ["ping", "release_due_retries", "release_due_retries_from", "sweep_ledger"]

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
        _record_released(retry)
        await store.cancel_retry(retry.id)
        sent += 1
    return sent


def _record_released(retry: ScheduledRetry) -> None:
    """Into the ledger: the released message is kept findable until it starts (parked
    work's state is PENDING when it never started, PARKED when an attempt ran)."""
    if retry.task_id is None or retry.queue is None:
        return
    entry = LedgerEntry(
        task_id=retry.task_id, name=retry.task_name, args=list(retry.args),
        kwargs=dict(retry.kwargs), queue=retry.queue,
    )  # fmt: skip
    record_sent(process_ledger(), entry, sent_at=SYSTEM_CLOCK.time())


@app.task(name="outlast.maintenance.sweep_ledger")
def sweep_ledger(page: int = 500) -> dict[str, int]:
    """Send again the work the broker lost before it started (run by beat; see
    ``outlast.workers.sending._ledger_sweep``); what the sweep did."""
    settings = get_settings()
    ledger = ledger_for(str(app.conf.broker_url), settings.namespace)
    if ledger is None:
        return {}
    prefix = str(app.conf.broker_transport_options.get("global_keyprefix", ""))
    report = sweep(
        ledger, broker=BrokerView(ledger.client, prefix=prefix), states=_result_states,
        send=_send, now=SYSTEM_CLOCK.time(), grace=settings.ledger_grace, page=page,
    )  # fmt: skip
    return dataclasses.asdict(report)


def _result_states(task_ids: Sequence[str]) -> dict[str, str]:
    backend = app.backend
    raw = backend.mget([backend.get_key_for_task(t) for t in task_ids]) if task_ids else []
    states: dict[str, str] = {}
    for task_id, value in zip(task_ids, raw, strict=True):
        states[task_id] = backend.decode_result(value)["status"] if value else "PENDING"
    return states


def _send(entry: LedgerEntry) -> None:
    now = SYSTEM_CLOCK.time()
    eta = entry.eta if entry.eta is not None and entry.eta > now else None
    app.send_task(
        entry.name, args=entry.args, kwargs=entry.kwargs, queue=entry.queue,
        task_id=entry.task_id,
        eta=datetime.datetime.fromtimestamp(eta, tz=datetime.UTC) if eta else None,
    )  # fmt: skip
