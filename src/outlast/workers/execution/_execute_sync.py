"""The execution core's driver for sync operations, on the task's own thread.

It makes the decisions of ``_execute`` (see ``_decisions``) without an event loop: a sync
attempt awaits nothing, so a loop would only add a task and a loop turn to every message,
and a thread hop to every call. An idempotent operation claims its key through a
:class:`~outlast.workers.execution._sync_claimer.SyncClaimer` (the sync Redis client, and a renewal
thread while the attempt runs). A ``timeout`` runs the call in a timeout thread, as
``handle_errors`` does for sync functions.
"""

from __future__ import annotations

from typing import Any

from outlast._clock import Clock
from outlast.store import StoreUnavailableError
from outlast.workers.execution._decisions import (
    claim_step,
    classify,
    prepare,
    refuse,
    settle_failed,
    store_down,
)
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._execute_events import publish_failure
from outlast.workers.execution._operations import OperationSpec
from outlast.workers.execution._steps import Defer, Done, Step
from outlast.workers.execution._sync_claimer import SyncClaimer

__all__ = ["execute_sync"]


def execute_sync(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    *,
    clock: Clock,
    claimer: SyncClaimer | None = None,
) -> Step:
    """Run one attempt of the sync operation ``spec`` and decide what happens next."""
    if spec.is_async or (spec.idempotent and claimer is None):
        raise TypeError(f"{spec.name}: execute_sync runs sync operations (claims need a claimer)")
    refused = refuse(spec, args, kwargs, envelope, clock)
    if refused is not None:
        return refused
    if claimer is None or not spec.idempotent:
        return _attempt(spec, args, kwargs, envelope, clock)
    try:
        claim = claim_step(claimer.claim(envelope.key), clock)
    except StoreUnavailableError as error:
        return store_down(spec, error)
    if isinstance(claim, Done | Defer):
        return claim
    assert claim.token is not None  # an acquired claim always has one
    return _attempt_holding(claimer, claim.token, spec, args, kwargs, envelope, clock)


def _attempt_holding(
    claimer: SyncClaimer,
    token: str,
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    clock: Clock,
) -> Step:
    """An attempt under the claim held with ``token``: renewed while it runs, then
    completed with the result or released for the retry."""
    with claimer.held(envelope.key, token):
        step = _attempt(spec, args, kwargs, envelope, clock)
    try:
        if isinstance(step, Done):
            claimer.complete(envelope.key, token, step.result)
        else:
            claimer.release(envelope.key, token)
    except StoreUnavailableError as error:
        settle_failed(spec, envelope.key, error)
    return step


def _attempt(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    clock: Clock,
) -> Step:
    attempt = prepare(spec)
    if isinstance(attempt, Defer):
        return attempt
    try:
        result = attempt.run_sync(spec.fn, args, kwargs, None)
    except Exception as error:
        publish_failure(spec, envelope, error)
        return classify(spec, envelope, error, clock)
    return Done(result)
