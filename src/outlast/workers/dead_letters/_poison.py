"""Poison messages: a task nobody registered, or a message the worker cannot decode.

:func:`poison_letter` makes the dead letter of such a message with its raw arguments and,
like every dead letter, the idempotency key its envelope carried (outside the arguments,
so a replay runs under that key and work done meanwhile is not done again). The worker's
consumer (``_consumer``) keeps the letter before it lets the message go.
"""

from __future__ import annotations

import time
from typing import Any

from outlast.store import DeadLetter
from outlast.workers.execution._envelope import Envelope

__all__ = ["poison_letter"]


def poison_letter(
    *,
    name: str,
    task_id: str | None,
    body: Any,
    error: BaseException,
    queue: str | None = None,
    detail: str | None = None,
) -> DeadLetter:
    """The dead letter of a message no task could run (``detail`` is added to the error
    message in parentheses)."""
    args, kwargs = _arguments(body)
    envelope, kwargs = _envelope(kwargs, fallback_key=task_id or "")
    return DeadLetter(
        id=f"{task_id or time.time_ns()}:poison",
        task_name=name or "<unknown>",
        reason="poison",
        error_type=f"{type(error).__module__}.{type(error).__qualname__}",
        error_message=f"{error} ({detail})" if detail else str(error),
        failed_at=time.time(),
        args=args,
        kwargs=kwargs,
        attempts=envelope.attempt,
        task_id=task_id,
        queue=queue,
        idempotency_key=envelope.key or None,
    )


def _arguments(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Arguments from a protocol-2 body ``[args, kwargs, embed]``; else the raw body."""
    if isinstance(body, list | tuple) and len(body) == 3:
        args, kwargs, _ = body
        if isinstance(args, list | tuple) and isinstance(kwargs, dict):
            return list(args), kwargs
    return [repr(body)[:10_000]], {}


def _envelope(kwargs: dict[str, Any], *, fallback_key: str) -> tuple[Envelope, dict[str, Any]]:
    """The envelope in ``kwargs`` and the rest. Without one, the key is the one a worker
    would have used (the task id; empty when the message has none)."""
    try:
        return Envelope.split(kwargs, fallback_key=fallback_key)
    except (TypeError, ValueError):  # a malformed envelope: keep the arguments as they came
        return Envelope(key=fallback_key), kwargs
