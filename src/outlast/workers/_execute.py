"""The execution core of a resilient task: one attempt of an operation, decided as a Step.

Order: refuse poison (arguments the function cannot take) -> honour ``not_before`` ->
claim the idempotency key (a completed key answers with its stored result; a key another
worker holds defers) -> defer while the breaker is open -> run the attempt through the
bulkhead, the breaker and the timeout -> classify a failure with the retry policy.
Deferrals spend no attempt. A claim is a short lease renewed while the attempt runs
(``ClaimKeeper``), released on every failure, so the retry can claim it again, and
completed with the result on success. A store that does not answer defers the work
before the attempt (running without the claim could run it twice); after the attempt it
is logged, and the claim lapses with its lease.

``execute`` runs on the worker's event loop; a sync operation it runs (one with an
idempotency claim) runs in a thread, so the loop stays free to renew the claim.
``execute_sync`` makes the same decisions for a sync operation that keeps no idempotency
claim: such an attempt awaits nothing, so the loop would only add a task and a loop turn
to every message (about 30 us, measured with ``bench/throughput.py``'s profile); it runs
on the calling thread instead, and a ``timeout`` runs the call in a timeout thread, as
``handle_errors`` does for sync functions (on the loop a sync call could not be
interrupted at all).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from outlast._clock import Clock
from outlast.errors import BulkheadCapacityError, CircuitBreakerOpenError
from outlast.resilience._attempt import Attempt
from outlast.resilience._backoff import Backoff
from outlast.resilience._breaker_registry import get_circuit_breaker
from outlast.resilience._bulkhead_registry import get_bulkhead
from outlast.resilience._retry_after import retry_after_of
from outlast.resilience._retry_policy import policy_for
from outlast.store import ClaimStatus, IdempotencyClaim, Store, StoreUnavailableError
from outlast.workers._claim_keeper import ClaimKeeper
from outlast.workers._envelope import Envelope
from outlast.workers._operations import OperationSpec
from outlast.workers._steps import Dead, Defer, Done, Retry, Step

__all__ = [
    "BULKHEAD_DEFER",
    "IN_PROGRESS_RECHECK",
    "STORE_DEFER",
    "PoisonMessageError",
    "execute",
    "execute_sync",
]

# A full bulkhead frees up within a call's duration; come back soon, without an attempt.
BULKHEAD_DEFER = 1.0
# How often work whose key another worker holds checks whether that worker finished.
IN_PROGRESS_RECHECK = 1.0
# How soon work comes back when the store could not be asked for its idempotency claim.
STORE_DEFER = 5.0

log = logging.getLogger("outlast.workers")


class PoisonMessageError(TypeError):
    """The message's arguments do not fit the operation; running it again cannot help."""


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
    refused = _refuse(spec, args, kwargs, envelope, clock)
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


def execute_sync(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    *,
    clock: Clock,
) -> Step:
    """``execute`` for a sync operation without an idempotency claim, off the event loop."""
    if spec.idempotent or spec.is_async:
        raise TypeError(f"{spec.name}: execute_sync runs sync operations without a claim")
    refused = _refuse(spec, args, kwargs, envelope, clock)
    if refused is not None:
        return refused
    attempt = _prepare(spec)
    if isinstance(attempt, Defer):
        return attempt
    try:
        result = attempt.run_sync(spec.fn, args, kwargs, None)
    except Exception as error:
        return _classify(spec, envelope, error, clock)
    return Done(result)


def _refuse(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    clock: Clock,
) -> Dead | Defer | None:
    """Poison (arguments the function cannot take) or too early (``not_before``), else None."""
    try:
        spec.signature.bind(*args, **kwargs)
    except TypeError as error:
        return Dead("poison", PoisonMessageError(f"{spec.name}: {error}"))
    wait = envelope.not_before - clock.time()
    if wait > 0:
        return Defer(wait, "not_before")
    return None


async def _claim(
    spec: OperationSpec, envelope: Envelope, store: Store, clock: Clock, lease: float
) -> IdempotencyClaim | Done | Defer | None:
    if not spec.idempotent:
        return None
    try:
        claim = await store.claim_idempotency(envelope.key, lease=lease)
    except StoreUnavailableError as error:
        # Running without the claim could run it twice; come back when the store answers.
        log.warning("%s: store unavailable for the claim, deferring: %s", spec.name, error)
        return Defer(STORE_DEFER, "store_unavailable")
    if claim.status is ClaimStatus.COMPLETED:
        return Done(claim.result, replayed=True)
    if claim.status is ClaimStatus.IN_PROGRESS:
        # The holder usually finishes soon; a dead holder's claim lapses with its lease.
        held = (claim.lease_expires_at or 0.0) - clock.time()
        return Defer(min(max(held, 0.1), IN_PROGRESS_RECHECK), "in_progress")
    return claim


async def _attempt(
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    clock: Clock,
) -> Step:
    attempt = _prepare(spec)
    if isinstance(attempt, Defer):
        return attempt
    try:
        result = await attempt.run_async(_as_coroutine(spec), args, kwargs, None)
    except Exception as error:
        return _classify(spec, envelope, error, clock)
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
        # The attempt is over either way; its claim lapses with its lease.
        log.warning(
            "%s: claim on %r not settled, store unavailable: %s", spec.name, envelope.key, error
        )
    return step


def _prepare(spec: OperationSpec) -> Attempt | Defer:
    """The attempt's layers, or a deferral while the breaker is open."""
    breaker = get_circuit_breaker(spec.circuit_breaker) if spec.circuit_breaker else None
    if breaker is not None and breaker.state == "open" and breaker.retry_after > 0:
        return Defer(breaker.retry_after, "breaker_open")
    bulkhead = get_bulkhead(spec.bulkhead) if spec.bulkhead else None
    return Attempt(
        operation=spec.name,
        breaker=breaker,
        bulkhead=bulkhead,
        timeout=spec.timeout,
        breaker_ignores=spec.breaker_ignores,
    )


def _classify(spec: OperationSpec, envelope: Envelope, error: Exception, clock: Clock) -> Step:
    """What a failed attempt means: a deferral (breaker open, bulkhead full) or a failure."""
    if isinstance(error, CircuitBreakerOpenError):
        return Defer(error.retry_after, "breaker_open")
    if isinstance(error, BulkheadCapacityError):
        return Defer(BULKHEAD_DEFER, "bulkhead_full")
    return _failure(spec, envelope, error, clock)


def _failure(spec: OperationSpec, envelope: Envelope, error: Exception, clock: Clock) -> Step:
    config = spec.retry
    if not policy_for(config).is_retryable(error):
        return Dead("non_retryable", error)
    if envelope.attempt >= config.max_attempts:
        return Dead("exhausted", error)
    delay = Backoff(config, previous=envelope.previous_delay).next_delay(envelope.attempt)
    if config.honor_retry_after:
        asked = retry_after_of(error, now=clock.time())
        if asked is not None:
            delay = min(asked, config.max_delay)
    return Retry(delay, error)


def _as_coroutine(spec: OperationSpec) -> Any:
    """The operation as an async callable (a sync one runs in a thread, off the loop)."""
    if spec.is_async:
        return spec.fn
    fn = spec.fn

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return call
