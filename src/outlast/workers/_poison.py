"""Poison messages: a task nobody registered, or a message the worker cannot decode.

Celery acknowledges such messages and moves on; these signal handlers first write them to
the dead-letter store with the raw message, so they can be inspected and replayed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

from outlast.store import DeadLetter
from outlast.workers._loop import run_on_process_loop
from outlast.workers._store import worker_store

__all__ = ["poison_letter"]

log = logging.getLogger("outlast.workers")


def poison_letter(*, name: str, task_id: str | None, body: Any, error: BaseException) -> DeadLetter:
    """The dead letter of a message no task could run."""
    args, kwargs = _arguments(body)
    return DeadLetter(
        id=f"{task_id or time.time_ns()}:poison",
        task_name=name or "<unknown>",
        reason="poison",
        error_type=f"{type(error).__module__}.{type(error).__qualname__}",
        error_message=str(error),
        failed_at=time.time(),
        args=args,
        kwargs=kwargs,
        task_id=task_id,
    )


def _arguments(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Arguments from a protocol-2 body ``[args, kwargs, embed]``; else the raw body."""
    if isinstance(body, list | tuple) and len(body) == 3:
        args, kwargs, _ = body
        if isinstance(args, list | tuple) and isinstance(kwargs, dict):
            return list(args), kwargs
    return [repr(body)[:10_000]], {}


def _store_letter(letter: DeadLetter) -> None:
    try:
        run_on_process_loop(worker_store().add_dead_letter(letter))
    except Exception:
        log.critical("poison dead letter could not be stored: %r", letter.to_document())


@signals.task_unknown.connect
def _unknown_task(*, name: str, id: str, message: Any, exc: BaseException, **_: Any) -> None:
    body = getattr(message, "payload", None)
    _store_letter(poison_letter(name=name, task_id=id, body=body, error=exc))


@signals.task_rejected.connect
def _rejected_message(*, message: Any, exc: BaseException | None = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    body = getattr(message, "body", None)
    error = exc or ValueError("message rejected by the worker")
    _store_letter(
        poison_letter(
            name=headers.get("task", ""), task_id=headers.get("id"), body=body, error=error
        )
    )
