"""Sending work: ``enqueue`` and the ``fallback_to_queue`` fallback for ``handle_errors``.

Arguments must be JSON (the only serializer the workers accept); anything else is refused
here, naming the argument, rather than failing later in a worker. When the broker cannot
take the message, the work is parked in the store's retry schedule, due at once, and the
beat job sends it when the broker is back: the caller's work is never dropped. What the
broker took is written to the ledger, so a broker that loses it before it starts does not
lose it for good (``_ledger``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from outlast.errors import ServiceUnavailableError, ValidationError
from outlast.store import ScheduledRetry, open_store
from outlast.workers._app import app
from outlast.workers._store import worker_store
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._loop import run_on_process_loop
from outlast.workers.execution._operations import spec_for
from outlast.workers.sending._ledger import LedgerEntry, process_ledger, record_sent

__all__ = ["Enqueued", "enqueue", "fallback_to_queue"]

log = logging.getLogger("outlast.workers")

Enqueued = dict[str, Any]


def enqueue(
    name: str,
    *args: Any,
    idempotency_key: str | None = None,
    countdown: float | None = None,
    **kwargs: Any,
) -> Enqueued:
    """Send the registered operation ``name``; returns ``{"task_id", "idempotency_key", ...}``.

    The same ``idempotency_key`` enqueued twice runs the operation once (for operations
    registered with ``idempotent=True``); without one, a fresh key is made.
    """
    spec = spec_for(name)
    _check_json(name, args, kwargs)
    envelope = Envelope.new(idempotency_key)
    task_id = uuid.uuid4().hex
    message_kwargs = envelope.to_kwargs(kwargs)
    try:
        app.send_task(
            name, args=list(args), kwargs=message_kwargs, queue=spec.queue,
            countdown=countdown, task_id=task_id,
        )  # fmt: skip
        state = "queued"
    except Exception as error:  # kombu raises its own and OS errors; both mean "not sent"
        log.warning("%s: broker unavailable (%s); parking the work", name, type(error).__name__)
        _park(name, list(args), message_kwargs, spec.queue, task_id, envelope, countdown)
        state = "parked"
    else:
        now = time.time()
        sent = LedgerEntry(
            task_id=task_id, name=name, args=list(args), kwargs=message_kwargs,
            queue=spec.queue, eta=now + countdown if countdown else None,
        )  # fmt: skip
        record_sent(process_ledger(), sent, sent_at=now)
    return {"task_id": task_id, "idempotency_key": envelope.key, "status": state}


def _park(
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    queue: str,
    task_id: str,
    envelope: Envelope,
    countdown: float | None,
) -> None:
    now = time.time()
    parked = ScheduledRetry(
        id=f"{task_id}:enqueue", task_name=name, due_at=now + (countdown or 0.0),
        scheduled_at=now, args=args, kwargs=kwargs, attempts=0, queue=queue,
        task_id=task_id, idempotency_key=envelope.key, reason="broker_unavailable",
    )  # fmt: skip
    try:
        _schedule(parked)
    except Exception as error:
        raise ServiceUnavailableError(
            f"could not enqueue {name!r}: broker and store down"
        ) from error


def _schedule(parked: ScheduledRetry) -> None:
    """Park ``parked`` from sync code, or from inside a running event loop (FastAPI)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run_on_process_loop(worker_store().schedule_retry(parked))
        return

    async def with_own_store() -> None:
        store = open_store()  # a store bound to this thread's loop, closed after
        try:
            await store.schedule_retry(parked)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, with_own_store()).result()


def _check_json(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    bad = [f"args[{i}]" for i, value in enumerate(args) if not _is_json(value)]
    bad += [f"kwargs[{key!r}]" for key, value in kwargs.items() if not _is_json(value)]
    if bad:
        raise ValidationError(f"arguments of {name!r} must be JSON-serializable: {', '.join(bad)}")


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def fallback_to_queue(name: str, *, message: str = "Queued for processing") -> Callable[..., Any]:
    """A ``fallback_func`` for ``handle_errors`` that enqueues the call as operation ``name``.

    The fallback receives the failed call's arguments and returns
    ``{"status": "queued", "message": ..., "task_id": ..., "idempotency_key": ...}``.
    """

    def queue_it(*args: Any, **kwargs: Any) -> dict[str, Any]:
        sent = enqueue(name, *args, **kwargs)
        return {"status": "queued", "message": message, **sent}

    queue_it.__name__ = f"fallback_to_queue_{name.replace('.', '_')}"
    return queue_it
