"""The execution core of a resilient task: one attempt of an operation, decided as a Step.

Order: refuse poison (arguments the function cannot take) -> honour ``not_before`` ->
claim the idempotency key (a completed key answers with its stored result; a key another
worker holds defers) -> defer while the breaker is open -> run the attempt through the
bulkhead, the breaker and the timeout -> classify a failure with the retry policy.
Deferrals spend no attempt. A claim is a short lease renewed while the attempt runs
(``ClaimKeeper``), released on every failure, so the retry can claim it again, and
completed with the result on success. A store that does not answer defers the work
before the attempt (running without the claim could run it twice); after the attempt it
is logged, and the claim lapses with its lease. The decisions live in ``_decisions``.

``execute`` is the driver on the worker's event loop, for async operations (and for sync
ones whose claims only the async store can make: then the call runs in a thread, so the
loop stays free to renew the claim). Sync operations run on the task's thread through
``_execute_sync`` instead, with no loop turn per message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from outlast._clock import Clock
from outlast.store import IdempotencyClaim, Store, StoreUnavailableError
from outlast.workers.execution._claim_keeper import ClaimKeeper
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

__all__ = ["execute"]


async def execute(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    *,
    store: Store,
    clock: Clock,
    claim_lease: float,
) -> Step:
    """Run one attempt of ``spec`` and decide what happens next.

    ``claim_lease`` is how long an idempotency claim holds, without a renewal, before
    another worker may take the work over (it is renewed every third of it meanwhile).
    """
    refused = refuse(spec, args, kwargs, envelope, clock)
    if refused is not None:
        return refused
    claim = await _claim(spec, envelope, store, clock, claim_lease)
    if isinstance(claim, Done | Defer):
        return claim
    if claim is None or claim.token is None:
        return await _attempt(spec, args, kwargs, envelope, clock)
    return await _attempt_holding(
        claim.token, spec, args, kwargs, envelope, store=store, clock=clock, lease=claim_lease
    )


async def _claim(
    spec: OperationSpec, envelope: Envelope, store: Store, clock: Clock, lease: float
) -> IdempotencyClaim | Done | Defer | None:
    if not spec.idempotent:
        return None
    try:
        claim = await store.claim_idempotency(envelope.key, lease=lease)
    except StoreUnavailableError as error:
        return store_down(spec, error)
    return claim_step(claim, clock)


async def _attempt(
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
        result = await attempt.run_async(_as_coroutine(spec), args, kwargs, None)
    except Exception as error:
        publish_failure(spec, envelope, error)
        return classify(spec, envelope, error, clock)
    return Done(result)


async def _attempt_holding(
    token: str,
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    *,
    store: Store,
    clock: Clock,
    lease: float,
) -> Step:
    """An attempt under the claim held with ``token``: the claim is renewed while it
    runs, then completed with the result or released for the retry."""
    keeper = ClaimKeeper(store, envelope.key, token, lease=lease)
    keeper.start()
    try:
        step = await _attempt(spec, args, kwargs, envelope, clock)
    finally:
        await keeper.stop()
    try:
        if isinstance(step, Done):
            await store.complete_idempotency(envelope.key, token, step.result)
        else:
            await store.release_idempotency(envelope.key, token)
    except StoreUnavailableError as error:
        settle_failed(spec, envelope.key, error)
    return step


def _as_coroutine(spec: OperationSpec) -> Any:
    """The operation as an async callable (a sync one runs in a thread, off the loop)."""
    if spec.is_async:
        return spec.fn
    fn = spec.fn

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return call
