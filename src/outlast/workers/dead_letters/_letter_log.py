"""The one log line of each dead letter: where it went and how to replay it.

A dead letter is logged once, by Outlast: WARNING when the store has it (its id, task,
reason, attempts and error, and the replay call), CRITICAL when the store refused it (and
where the work waits meanwhile). Celery would add its own ERROR "raised unexpected" line
with a traceback for the same failure (the traceback is in the letter already), so the
task marks its id with :func:`quiet_failure_log` and a filter on Celery's trace logger
drops that one record. The filter must never drop any other record.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from outlast.store import DeadLetter

__all__ = ["log_held", "log_not_kept", "log_stored", "quiet_failure_log"]

log = logging.getLogger("outlast.workers")

# Celery's logger for a task's outcome, and the description of an unexpected failure.
_TRACE_LOGGER: Final = "celery.app.trace"
_UNEXPECTED: Final = "raised unexpected"
# Ids marked but never logged by Celery (none in practice) must not pile up.
_MAX_MARKED: Final = 10_000


def _summary(letter: DeadLetter) -> str:
    attempts = "attempt" if letter.attempts == 1 else "attempts"
    error = letter.error_type.rsplit(".", 1)[-1]
    return (
        f"dead letter {letter.id!r}: {letter.task_name} {letter.reason} after "
        f"{letter.attempts} {attempts}: {error}: {letter.error_message}"
    )


def log_stored(letter: DeadLetter) -> None:
    """The letter is in the dead-letter store."""
    log.warning(
        "%s; kept in the dead-letter store, replay with await outlast.dead_letters.replay(%r)",
        _summary(letter),
        letter.id,
    )


def log_held(letter: DeadLetter, cause: BaseException, *, queue: str | None, delay: float) -> None:
    """The store refused the letter; it waits on the broker and is offered again later."""
    log.critical(
        "%s; the dead-letter store refused it (%s: %s): the message stays on the broker "
        "(queue %s) and the letter is stored when the store takes it, next try in %.0fs",
        _summary(letter),
        type(cause).__name__,
        cause,
        queue,
        delay,
    )


def log_not_kept(letter: DeadLetter, cause: BaseException, *, delay: float) -> None:
    """Neither the store nor the broker took the letter: its message is requeued."""
    log.critical(
        "%s; neither the dead-letter store nor the broker took it (%s: %s): the message "
        "is requeued in %.0fs and the letter made again then",
        _summary(letter),
        type(cause).__name__,
        cause,
        delay,
    )


class _QuietDeadLettered(logging.Filter):
    """Drops Celery's "raised unexpected" record of a task whose dead letter is logged."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: dict[str, None] = {}
        self._lock = threading.Lock()

    def mark(self, task_id: str) -> None:
        with self._lock:
            if len(self._ids) >= _MAX_MARKED:
                self._ids.pop(next(iter(self._ids)))
            self._ids[task_id] = None

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if not isinstance(data, dict) or data.get("description") != _UNEXPECTED:
            return True
        task_id = str(data.get("id"))
        with self._lock:
            if task_id not in self._ids:
                return True
            del self._ids[task_id]
        return False


_quiet = _QuietDeadLettered()
logging.getLogger(_TRACE_LOGGER).addFilter(_quiet)


def quiet_failure_log(task_id: str | None) -> None:
    """The failure of ``task_id`` is logged with its dead letter: Celery need not log it."""
    if task_id:
        _quiet.mark(task_id)
