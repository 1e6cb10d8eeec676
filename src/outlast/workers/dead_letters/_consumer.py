"""The worker's consumer: a message no task can run is dead-lettered before it is let go.

Celery's consumer rejects (drops) a message for an unregistered task, or one it cannot
make a task of, and only then tells anyone, with an ERROR that says the message was
"ignored and discarded"; a body it cannot decode it acknowledges after a CRITICAL log.
This consumer first keeps the message's dead letter (``_keep_letter``: in the store, or
on the broker when the store refuses it) and logs that one line; then it lets the message
go as Celery would (the task's result marked failed with ``NotRegistered`` and a
``task-failed`` event sent, the ``task_unknown`` or ``task_rejected`` signal sent; an
undecodable message acknowledged).
When neither the store nor the broker takes the letter, the message is not let go: it is
requeued after the letter's delay. It never drops a message whose letter is not kept.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals
from celery.exceptions import NotRegistered
from celery.utils.objects import Bunch
from celery.worker.consumer import Consumer

from outlast.store import DeadLetter
from outlast.workers.dead_letters._keep_letter import LetterNotKept, keep_letter
from outlast.workers.dead_letters._poison import poison_letter

__all__ = ["LetterKeepingConsumer"]

log = logging.getLogger("outlast.workers")


class LetterKeepingConsumer(Consumer):  # type: ignore[misc]  # Celery's Consumer is untyped
    """Celery's consumer, keeping the dead letter of every message it cannot run."""

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> None:
        headers = message.headers or {}
        name, task_id = headers.get("task", ""), headers.get("id")
        letter = poison_letter(
            name=name, task_id=task_id, body=_decoded(message, body), error=exc,
            queue=_queue_of(message),
        )  # fmt: skip
        if not self._kept(letter, message):
            return
        message.reject_log_error(log, self.connection_errors)
        if task_id:
            self._mark_failed(message, name, task_id)
        signals.task_unknown.send(sender=self, message=message, exc=exc, name=name, id=task_id)

    def _mark_failed(self, message: Any, name: str, task_id: str) -> None:
        """The task's result says NotRegistered (where its sender waits for it), and
        monitors (Flower) see it fail."""
        properties = getattr(message, "properties", None) or {}
        request = Bunch(
            name=name, chord=None, errbacks=None, root_id=message.headers.get("root_id"),
            correlation_id=properties.get("correlation_id"), reply_to=properties.get("reply_to"),
        )  # fmt: skip
        self.app.backend.mark_as_failure(task_id, NotRegistered(name), request=request)
        if self.event_dispatcher:
            self.event_dispatcher.send(
                "task-failed", uuid=task_id, exception=f"NotRegistered({name!r})"
            )

    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        """A body that cannot be decoded: its letter (the raw body, its content type and
        encoding) is kept, then the message is acknowledged as Celery does, since every
        redelivery would fail the same way."""
        headers = message.headers or {}
        content = f"content type {message.content_type!r}, encoding {message.content_encoding!r}"
        letter = poison_letter(
            name=headers.get("task", ""), task_id=headers.get("id"), body=_text(message.body),
            error=exc, queue=_queue_of(message), detail=content,
        )  # fmt: skip
        if self._kept(letter, message):
            message.ack_log_error(log, self.connection_errors)

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> None:
        self._let_go_rejected(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._let_go_rejected(message, None)

    def _let_go_rejected(self, message: Any, exc: BaseException | None) -> None:
        headers = message.headers or {}
        error = exc or ValueError("not a task message this worker understands")
        letter = poison_letter(
            name=headers.get("task", ""), task_id=headers.get("id"), body=message.body,
            error=error, queue=_queue_of(message),
        )  # fmt: skip
        if not self._kept(letter, message):
            return
        message.reject_log_error(log, self.connection_errors)
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def _kept(self, letter: DeadLetter, message: Any) -> bool:
        """Whether the letter is kept; if not, the message is requeued after its delay."""
        try:
            keep_letter(letter, queue=letter.queue)
        except LetterNotKept as not_kept:
            # Held meanwhile, like a message being worked on, so it does not loop hot.
            self.timer.call_after(not_kept.delay, _requeue, (message, self.connection_errors))
            return False
        return True


def _decoded(message: Any, body: Any) -> Any:
    """The message's arguments as decoded, or its raw body when it cannot be decoded."""
    if body is not None:
        return body
    try:
        return message.payload
    except Exception:  # any content this worker refuses: the raw body is all there is
        return message.body


def _text(body: Any) -> Any:
    """A raw body as text where it is UTF-8 (brokers hand it over as bytes or as text)."""
    if isinstance(body, bytes):
        try:
            return body.decode()
        except UnicodeDecodeError:
            return body
    return body


def _queue_of(message: Any) -> str | None:
    """The queue a message came from (each queue is routed by its own name)."""
    key = (getattr(message, "delivery_info", None) or {}).get("routing_key")
    return str(key) if key else None


def _requeue(message: Any, connection_errors: tuple[type[BaseException], ...]) -> None:
    message.reject_log_error(log, connection_errors, requeue=True)
