"""Building the dead letter of a task that cannot be done, with all a replay needs."""

from __future__ import annotations

import traceback
from typing import Any

from outlast.store import DeadLetter
from outlast.workers.execution._envelope import Envelope

__all__ = ["dead_letter_for"]


def dead_letter_for(
    *,
    task_name: str,
    reason: str,
    error: BaseException,
    args: Any,
    kwargs: dict[str, Any],
    envelope: Envelope,
    task_id: str | None,
    queue: str | None,
    failed_at: float,
) -> DeadLetter:
    """The dead letter for ``error``; its id makes a redelivered duplicate store once."""
    return DeadLetter(
        id=f"{task_id or envelope.key}:{envelope.attempt}:{reason}",
        task_name=task_name,
        reason=reason,
        error_type=f"{type(error).__module__}.{type(error).__qualname__}",
        error_message=str(error),
        traceback="".join(traceback.format_exception(error)),
        failed_at=failed_at,
        args=list(args),
        kwargs=kwargs,
        attempts=envelope.attempt,
        task_id=task_id,
        queue=queue,
        idempotency_key=envelope.key,
    )
