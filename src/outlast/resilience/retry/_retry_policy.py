"""Which errors a retry may follow: ``RetryPolicy``, compiled from a ``RetryConfig``.

A policy turns the exception lists of a config into tuples for ``isinstance`` checks, once
per config (:func:`policy_for` caches it; configs are frozen and hashable). It never retries
anything that is not an ``Exception`` (cancellation, interrupts, exits: the trap of tenacity
#529), and never retries Outlast's own errors in :data:`NOT_RETRIED_BY_DEFAULT` unless the
config names them.

This module only decides; it never calls, sleeps or publishes events.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from outlast.config import RetryConfig
from outlast.errors import CircuitBreakerOpenError, ValidationError

__all__ = ["NOT_RETRIED_BY_DEFAULT", "RetryPolicy", "policy_for"]

ExceptionTypes = tuple[type[BaseException], ...]

NOT_RETRIED_BY_DEFAULT: ExceptionTypes = (ValidationError, CircuitBreakerOpenError)
"""Outlast's own errors that retrying cannot fix: bad input stays bad, and an open breaker
only rejects faster. Retried only when named (or a subclass is) in retryable_exceptions."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which errors a :class:`RetryConfig` retries, compiled for ``isinstance`` checks.

    In order: anything that is not an ``Exception`` is never retried (cancellation,
    interrupts, exits); ``non_retryable`` wins over ``retryable``; an error in
    :data:`NOT_RETRIED_BY_DEFAULT` is retried only if a type in ``retryable_exceptions``
    that is itself one of those (or a subclass) matches it, so ``[Exception]`` alone does
    not retry a ``ValidationError`` or an open breaker.
    """

    retryable: ExceptionTypes
    non_retryable: ExceptionTypes
    named_outlast_errors: ExceptionTypes

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        """Compile the exception lists of ``config``."""
        retryable = tuple(config.retryable_exceptions)
        named = tuple(t for t in retryable if issubclass(t, NOT_RETRIED_BY_DEFAULT))
        return cls(
            retryable=retryable,
            non_retryable=tuple(config.non_retryable_exceptions),
            named_outlast_errors=named,
        )

    def is_retryable(self, error: BaseException) -> bool:
        """Whether another attempt may follow a failure with ``error``."""
        if not isinstance(error, Exception) or isinstance(error, self.non_retryable):
            return False
        if isinstance(error, NOT_RETRIED_BY_DEFAULT):
            return isinstance(error, self.named_outlast_errors)
        return isinstance(error, self.retryable)


@functools.lru_cache(maxsize=256)
def policy_for(config: RetryConfig) -> RetryPolicy:
    """The compiled policy of ``config``, cached (configs are frozen and hashable)."""
    return RetryPolicy.from_config(config)
