"""Keeping a dead letter safe when the store refuses it: the work waits on the broker.

A dead letter is only as safe as the write that stores it. When the store refuses that
write (down, raising, misconfigured, or refusing the letter itself), the letter goes back
to the broker as a message of the task ``outlast.maintenance.keep_dead_letter``, on the
queue its work came from and with a countdown (5 s, doubling, at most 60 s), and that task
offers it to the store again. The caller acknowledges its own message only after this
returns, so by then the letter is in the store or in a published message. When the broker
refuses the letter too, :class:`LetterNotKept` tells the caller to requeue its message,
after the same delay: a letter that cannot be kept never loops hot. The letter's id is
stable, so however often it is offered, the store keeps it once.

This module never acknowledges, rejects or drops a message: its callers do, and only
after it returned.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Final, NoReturn

from celery.exceptions import Reject

from outlast._clock import SYSTEM_CLOCK
from outlast.store import DeadLetter
from outlast.workers._app import app
from outlast.workers._store import worker_store
from outlast.workers.dead_letters._letter_log import log_held, log_not_kept, log_stored
from outlast.workers.execution._loop import run_on_process_loop

__all__ = [
    "FIRST_DELAY",
    "KEEP_TASK",
    "MAX_DELAY",
    "LetterNotKept",
    "keep_delay",
    "keep_letter",
    "requeue_at_once",
    "requeue_later",
]

KEEP_TASK: Final = "outlast.maintenance.keep_dead_letter"
FIRST_DELAY: Final = 5.0
# Well under the broker's visibility timeout: a countdown message is held unacknowledged.
MAX_DELAY: Final = 60.0


class LetterNotKept(Exception):
    """Neither the store nor the broker took the letter: requeue its message in ``delay`` s."""

    def __init__(self, letter_id: str, delay: float) -> None:
        super().__init__(letter_id, delay)  # both in args: it crosses processes pickled
        self.letter_id = letter_id
        self.delay = delay

    def __str__(self) -> str:
        return f"dead letter {self.letter_id!r} could not be kept; requeued in {self.delay:.0f}s"


def keep_delay(tries: int) -> float:
    """Seconds before the letter is offered to the store again, after ``tries`` refusals."""
    return float(min(FIRST_DELAY * 2 ** min(tries, 16), MAX_DELAY))


def keep_letter(letter: DeadLetter, *, queue: str | None, tries: int = 0) -> None:
    """Store ``letter``, or hand it to the broker for a later try (LetterNotKept if the
    broker refuses it too); logs the letter's one line either way."""
    try:
        run_on_process_loop(worker_store().add_dead_letter(letter))
    except Exception as refused:  # whatever the cause, the letter must not be lost
        _hand_to_broker(letter, refused, queue=queue or letter.queue, tries=tries)
        return
    log_stored(letter)


def _hand_to_broker(
    letter: DeadLetter, refused: Exception, *, queue: str | None, tries: int
) -> None:
    delay = keep_delay(tries)
    try:
        app.send_task(
            KEEP_TASK, args=[letter.to_document(), tries + 1], queue=queue, countdown=delay
        )
    except Exception as unsent:  # kombu raises its own errors and OS errors alike
        log_not_kept(letter, refused, delay=delay)
        raise LetterNotKept(letter.id, delay) from unsent
    log_held(letter, refused, queue=queue, delay=delay)


_WAIT_BEFORE_REQUEUE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "outlast_wait_before_requeue", default=True
)


@contextlib.contextmanager
def requeue_at_once() -> Iterator[None]:
    """Within this block :func:`requeue_later` does not wait: for the worker's main process,
    whose consumer a sleep would stop (the work it requeues then runs to its time limit
    again before it is back, so nothing loops hot)."""
    token = _WAIT_BEFORE_REQUEUE.set(False)
    try:
        yield
    finally:
        _WAIT_BEFORE_REQUEUE.reset(token)


def requeue_later(not_kept: LetterNotKept) -> NoReturn:
    """Give the running task's message back to the broker after the letter's delay (the
    pool slot waits meanwhile: with the store and the broker refusing, it has no better
    use, and an immediate requeue would come straight back)."""
    if _WAIT_BEFORE_REQUEUE.get():
        SYSTEM_CLOCK.sleep(not_kept.delay)
    raise Reject(not_kept, requeue=True)


def _keep_dead_letter(task: Any, document: dict[str, Any], tries: int) -> str:
    """Offer a held letter to the store again; its id once stored or handed on."""
    letter = DeadLetter.from_document(document)
    queue = (task.request.delivery_info or {}).get("routing_key")
    try:
        keep_letter(letter, queue=queue, tries=tries)
    except LetterNotKept as not_kept:
        requeue_later(not_kept)
    return letter.id


app.task(name=KEEP_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(
    _keep_dead_letter
)
