"""The decisions both execution drivers make alike, apart from running anything.

Poison and ``not_before`` before the attempt, what an idempotency claim's answer means,
whether an open breaker defers the work, which layers an attempt runs through, and what a
failed attempt means under the retry policy. ``_execute`` (on the event loop) and
``_execute_sync`` (on the task's thread) only add the I/O.
"""

from __future__ import annotations

import logging

from outlast._clock import Clock
from outlast.errors import BulkheadCapacityError, CircuitBreakerOpenError
from outlast.resilience._attempt import Attempt
from outlast.resilience.breaker._breaker_registry import get_circuit_breaker
from outlast.resilience.bulkhead._bulkhead_registry import get_bulkhead
from outlast.resilience.retry._backoff import Backoff
from outlast.resilience.retry._retry_after import retry_after_of
from outlast.resilience.retry._retry_policy import policy_for
from outlast.store import ClaimStatus, IdempotencyClaim, StoreUnavailableError
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._operations import OperationSpec
from outlast.workers.execution._steps import Dead, Defer, Done, Retry, Step
from outlast.workers.execution._time_limits import as_time_limit, timeout_reason

__all__ = [
    "BULKHEAD_DEFER",
    "IN_PROGRESS_RECHECK",
    "STORE_DEFER",
    "PoisonMessageError",
    "claim_step",
    "classify",
    "prepare",
    "refuse",
    "settle_failed",
    "store_down",
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


def refuse(
    spec: OperationSpec, args: tuple[object, ...], kwargs: dict[str, object], envelope: Envelope,
    clock: Clock,
) -> Dead | Defer | None:  # fmt: skip
    """Poison (arguments the function cannot take) or too early (``not_before``), else None."""
    try:
        spec.signature.bind(*args, **kwargs)
    except TypeError as error:
        return Dead("poison", PoisonMessageError(f"{spec.name}: {error}"))
    wait = envelope.not_before - clock.time()
    if wait > 0:
        return Defer(wait, "not_before")
    return None


def claim_step(claim: IdempotencyClaim, clock: Clock) -> IdempotencyClaim | Done | Defer:
    """The stored result of a completed key, a deferral while another worker holds it,
    or the claim itself when it was acquired."""
    if claim.status is ClaimStatus.COMPLETED:
        return Done(claim.result, replayed=True)
    if claim.status is ClaimStatus.IN_PROGRESS:
        # The holder usually finishes soon; a dead holder's claim lapses with its lease.
        held = (claim.lease_expires_at or 0.0) - clock.time()
        return Defer(min(max(held, 0.1), IN_PROGRESS_RECHECK), "in_progress")
    return claim


def store_down(spec: OperationSpec, error: StoreUnavailableError) -> Defer:
    """No claim could be asked for: running without one could run the work twice, so it
    comes back when the store may answer."""
    log.warning("%s: store unavailable for the claim, deferring: %s", spec.name, error)
    return Defer(STORE_DEFER, "store_unavailable")


def settle_failed(spec: OperationSpec, key: str, error: StoreUnavailableError) -> None:
    """The attempt is over either way; its unsettled claim lapses with its lease."""
    log.warning("%s: claim on %r not settled, store unavailable: %s", spec.name, key, error)


def prepare(spec: OperationSpec) -> Attempt | Defer:
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


def classify(spec: OperationSpec, envelope: Envelope, error: Exception, clock: Clock) -> Step:
    """What a failed attempt means: a deferral (breaker open, bulkhead full) or a failure
    (a time limit's is a timeout: dead-lettered with reason ``timeout`` once given up)."""
    if isinstance(error, CircuitBreakerOpenError):
        return Defer(error.retry_after, "breaker_open")
    if isinstance(error, BulkheadCapacityError):
        return Defer(BULKHEAD_DEFER, "bulkhead_full")
    return timeout_reason(_failure(spec, envelope, as_time_limit(error), clock))


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
