"""What the worker's main process does when the pool process running an operation dies.

Celery's ``Request`` lives in the worker's main process and hears how each message ended
in the pool; :class:`OperationRequest` (every operation task's ``Request``) adds:

- A pool process that died running the message (``WorkerLostError``): the signal or exit
  code the pool reported is recorded beside the message's starts (``_worker_losses``),
  for the dead letter of a message that keeps killing its process. Celery then requeues
  the message, as before.
- A process killed at the hard time limit: the attempt counts as a timeout
  (``_time_limits``) and follows the operation's retry policy, as the soft limit does
  inside the process: a retry is sent (or parked) while attempts remain, else a dead letter
  with reason ``timeout``. Celery alone would mark the task failed and acknowledge the
  message, leaving nothing to replay. The start is finished either way (a hard limit is a
  timeout, not a lost worker).

It never acknowledges a message before its retry or dead letter is stored: when neither
could be, the message is requeued (it runs again) instead.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[import-untyped]
from celery.exceptions import Ignore, Retry, TimeLimitExceeded, WorkerLostError
from celery.worker import state as worker_state
from celery.worker.request import Request

from outlast._clock import SYSTEM_CLOCK
from outlast.workers.dead_letters._keep_letter import requeue_at_once
from outlast.workers.execution._decisions import classify
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._operations import spec_for
from outlast.workers.execution._steps import Dead
from outlast.workers.execution._time_limits import TimeLimitError, hard_limit_error
from outlast.workers.execution._worker_losses import forget_starts, pool_status, record_loss

__all__ = ["OperationRequest"]

log = logging.getLogger("outlast.workers")


class OperationRequest(Request):  # type: ignore[misc]  # Celery's Request is untyped
    """An operation's message as the worker's main process sees it (see the module)."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        error = _unwrapped(exc_info.exception)
        if isinstance(error, TimeLimitExceeded) and not worker_state.should_terminate:
            if self._after_hard_limit(error, exc_info):
                return
        elif self._lost_its_process(error):
            record_loss(self.id, pool_status(error))
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        if not soft and self.__dict__.get("_retried_after_limit"):
            return  # the retry carries on: nothing failed, nothing to mark
        super().on_timeout(soft, timeout)

    def _lost_its_process(self, error: BaseException) -> bool:
        if isinstance(error, WorkerLostError):
            return True
        # Billiard reports some deaths as the child's exit; a cancel or revoke is not a loss.
        cancelled = self._already_cancelled or self._already_revoked
        return isinstance(error, SystemExit | KeyboardInterrupt) and not cancelled

    def _after_hard_limit(self, error: TimeLimitExceeded, exc_info: Any) -> bool:
        """Retry or dead-letter the attempt the hard limit killed; True once retried (the
        message is then acknowledged here), False to let Celery fail the task."""
        outcome = _settle(self, hard_limit_error(error.args[0] if error.args else "?"))
        forget_starts(self.id)
        if outcome == "dead":
            return False
        if outcome == "unsettled":
            worker_state.task_ready(self)
            self.reject(requeue=True)
            return True
        if self.store_errors:
            self.task.backend.mark_as_retry(
                self.id, error, exc_info.traceback, request=self._context
            )
        self.__dict__["_retried_after_limit"] = True
        worker_state.task_ready(self)
        self.acknowledge()
        self.send_event("task-retried", exception=repr(error), traceback=exc_info.traceback)
        return True


def _settle(request: Request, error: TimeLimitError) -> str:
    """Act on the killed attempt as the task would have: "retried", "dead" (the letter is
    stored) or "unsettled" (neither a retry nor a dead letter could be stored)."""
    task = request.task
    spec = spec_for(task.name)
    context = request._context
    context.called_directly = False  # Task.retry sends only from a worker's request
    envelope, kwargs = Envelope.split(dict(request.kwargs), fallback_key=str(request.id))
    step = classify(spec, envelope, error, SYSTEM_CLOCK)
    task.request_stack.push(context)
    try:
        with requeue_at_once():  # this is the main process: never sleep here
            task._act(step, spec, tuple(request.args), kwargs, envelope)
    except (Retry, Ignore):
        return "retried"
    except BaseException as raised:
        if isinstance(step, Dead) and raised is step.error:
            return "dead"
        log.critical(
            "%s[%s]: hard time limit not settled, requeued: %r", task.name, request.id, raised
        )
        return "unsettled"
    finally:
        task.request_stack.pop()
    return "unsettled"  # pragma: no cover  (acting on a Retry or Dead step always raises)


def _unwrapped(error: BaseException) -> BaseException:
    if isinstance(error, ExceptionWithTraceback):
        return error.exc  # type: ignore[no-any-return]
    return error
