"""``ResilientTask``: the Celery side of an operation: run the core, act on its Step.

Done returns the result. Defer and Retry come back later: within
``retry_park_threshold`` seconds through ``Task.retry(countdown=...)``, beyond it parked
in the store's retry schedule (a beat job releases it on time), because long delays must
not ride on broker ETAs; a retry the broker took is in the ledger of sent work until it
starts, as what ``enqueue`` sends is (``sending._ledger``). Dead writes a dead letter and
fails the task, logged once (the letter's line, not Celery's traceback too). A retry
message that cannot be published becomes a dead letter too, and so does work the core
itself failed on (``internal_error``, e.g. a result that is not JSON). A letter the store
refuses waits on the broker (``_keep_letter``) before the message is acknowledged, and
when the broker refuses it as well the message is requeued: nothing is dropped, silently
or not.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Ignore, Reject, SoftTimeLimitExceeded
from celery.exceptions import Retry as RetrySent

from outlast._clock import SYSTEM_CLOCK
from outlast.config import get_settings
from outlast.store import ScheduledRetry, StoreUnavailableError
from outlast.workers._app import app
from outlast.workers._store import worker_claimer, worker_store
from outlast.workers.dead_letters._dead_letter import dead_letter_for
from outlast.workers.dead_letters._keep_letter import LetterNotKept, keep_letter, requeue_later
from outlast.workers.dead_letters._letter_log import quiet_failure_log
from outlast.workers.execution._decisions import classify
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._execute import execute
from outlast.workers.execution._execute_sync import execute_sync
from outlast.workers.execution._loop import run_on_process_loop
from outlast.workers.execution._operations import OperationSpec, spec_for
from outlast.workers.execution._steps import Defer, Done, Retry, Step
from outlast.workers.execution._worker_losses import forget_starts, refuse_after_losses
from outlast.workers.sending._ledger import (
    PARKED_STATE,
    LedgerEntry,
    forget_sent,
    process_ledger,
    record_sent,
)

__all__ = ["ResilientTask", "register_task"]

log = logging.getLogger("outlast.workers")


class ResilientTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    """The base of every operation task: late acks, redelivery on worker loss, no cap on
    Celery's own retry count (attempts are counted in the envelope, deferrals are not)."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = None
    typing = False  # bad arguments reach the core, which dead-letters them as poison
    # In the worker's main process: records pool losses, settles hard time limits.
    Request = "outlast.workers.execution._request:OperationRequest"

    def run_operation(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one attempt of this task's operation and act on the outcome."""
        spec = spec_for(self.name)
        envelope, kwargs = Envelope.split(kwargs, fallback_key=str(self.request.id))
        refuse_after_losses(self, spec, args, kwargs, envelope)
        step: Step | None = None
        try:
            step = self._step(spec, args, kwargs, envelope)
        except SoftTimeLimitExceeded as error:  # struck while the loop waited: a timeout too
            step = classify(spec, envelope, error, SYSTEM_CLOCK)
        except Exception as error:  # the core's own failure (the operation's are Steps)
            self._dead(spec, args, kwargs, envelope, "internal_error", error)
        finally:
            # A result ends the message for good: its count goes with the next start's trip.
            forget_starts(str(self.request.id), lazily=isinstance(step, Done))
        return self._act(step, spec, args, kwargs, envelope)

    def _step(
        self, spec: OperationSpec, args: tuple[Any, ...], kwargs: dict[str, Any], envelope: Envelope
    ) -> Step:
        """One attempt through the core: on the task's thread for sync operations (claims
        through the sync client), on the worker's loop for async ones, and for sync ones
        whose store only the async client can reach (MongoDB)."""
        claimer = worker_claimer() if spec.idempotent else None
        if spec.is_async or (spec.idempotent and claimer is None):
            lease = get_settings().idempotency_claim_lease
            return run_on_process_loop(
                execute(
                    spec, args, kwargs, envelope,
                    store=worker_store(), clock=SYSTEM_CLOCK, claim_lease=lease,
                )
            )  # fmt: skip
        # Nothing to await: the task's own thread, no loop turn per message.
        return execute_sync(spec, args, kwargs, envelope, clock=SYSTEM_CLOCK, claimer=claimer)

    def _act(
        self,
        step: Step,
        spec: OperationSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        envelope: Envelope,
    ) -> Any:
        if isinstance(step, Done):
            return step.result
        if isinstance(step, Defer):
            return self._later(spec, args, kwargs, envelope, step.delay, step.reason)
        if isinstance(step, Retry):
            log.info(
                "%s attempt %d failed: retry in %.2fs", spec.name, envelope.attempt, step.delay
            )
            later = envelope.next_attempt(step.delay)
            return self._later(spec, args, kwargs, later, step.delay, "retry")
        return self._dead(spec, args, kwargs, envelope, step.reason, step.error)

    def _later(
        self,
        spec: OperationSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        envelope: Envelope,
        delay: float,
        reason: str,
    ) -> NoReturn:
        threshold = get_settings().retry_park_threshold
        if delay <= threshold:
            self._retry_on_broker(spec, args, kwargs, envelope, delay)
        due = SYSTEM_CLOCK.time() + delay
        parked = ScheduledRetry(
            id=f"{self.request.id}:{envelope.attempt}",
            task_name=spec.name,
            due_at=due,
            scheduled_at=SYSTEM_CLOCK.time(),
            args=list(args),
            kwargs=envelope.to_kwargs(kwargs),
            attempts=envelope.attempt,
            queue=spec.queue,
            task_id=self.request.id,
            idempotency_key=envelope.key,
            reason=reason,
        )
        try:
            run_on_process_loop(worker_store().schedule_retry(parked))
        except StoreUnavailableError:
            log.warning("%s: store unavailable, holding the retry on the broker", spec.name)
            held = envelope.deferred_until(due)
            self._retry_on_broker(spec, args, kwargs, held, threshold)
        self._waiting_parked(due, reason)
        raise Ignore()

    def _waiting_parked(self, due: float, reason: str) -> None:
        """The work waits in the store now: its ledger entry goes (nothing of it is on the
        broker) and its state is PARKED, so the entry its release records is kept until it
        starts. A ledger that cannot be told leaves the state STARTED (the sweep then drops
        the entry, and does not send parked work a second time)."""
        if not forget_sent(process_ledger(), self.request.id):
            return
        try:
            self.update_state(state=PARKED_STATE, meta={"parked_until": due, "reason": reason})
        except Exception as error:  # the result backend's own errors: the state stays STARTED
            log.warning("%s: parked, state not updated: %s", self.request.id, error)

    def _retry_on_broker(
        self,
        spec: OperationSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        envelope: Envelope,
        countdown: float,
    ) -> NoReturn:
        message_kwargs = envelope.to_kwargs(kwargs)
        sent_at = SYSTEM_CLOCK.time()
        try:
            self.retry(args=args, kwargs=message_kwargs, countdown=countdown, max_retries=None)
        except RetrySent:  # the broker took the retry: the ledger keeps it until it starts
            entry = LedgerEntry(
                task_id=self.request.id, name=spec.name, args=list(args), kwargs=message_kwargs,
                queue=spec.queue, eta=sent_at + countdown if countdown else None,
            )  # fmt: skip
            record_sent(process_ledger(), entry, sent_at=sent_at)
            raise
        except Reject as rejected:
            cause = rejected.reason if isinstance(rejected.reason, BaseException) else rejected
            # ``envelope`` is the attempt that could not be sent; only the ones before it ran.
            made = replace(envelope, attempt=envelope.attempt - 1)
            self._dead(spec, args, kwargs, made, "publish_failed", cause)
        raise AssertionError("Task.retry always raises")  # pragma: no cover

    def _dead(
        self,
        spec: OperationSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        envelope: Envelope,
        reason: str,
        error: BaseException,
    ) -> NoReturn:
        letter = dead_letter_for(
            task_name=spec.name,
            reason=reason,
            error=error,
            args=args,
            kwargs=kwargs,
            envelope=envelope,
            task_id=self.request.id,
            queue=spec.queue,
            failed_at=SYSTEM_CLOCK.time(),
        )
        queue = (self.request.delivery_info or {}).get("routing_key") or spec.queue
        try:
            keep_letter(letter, queue=queue)  # stored, or waiting on the broker
        except LetterNotKept as not_kept:
            requeue_later(not_kept)
        quiet_failure_log(self.request.id)  # the letter's line says it all
        raise error


def register_task(name: str) -> None:
    """Register the Celery task ``name`` (an operation) on the app, once."""
    if name in app.tasks:
        return

    def run(self: ResilientTask, *args: Any, **kwargs: Any) -> Any:
        return self.run_operation(args, kwargs)

    app.task(name=name, base=ResilientTask, bind=True)(run)
