"""Celery's time limits as timeouts of the attempt they cut short.

The soft limit raises ``SoftTimeLimitExceeded`` inside the operation; the hard limit kills
the process running it, and the worker's main process then decides for it (``_request``).
Either way the attempt counts as a timeout (:class:`TimeLimitError`, an
``OperationTimeoutError``) and follows the operation's retry policy: a retry while
attempts remain, else a dead letter with reason ``timeout``.

This module only translates errors and decisions; it never runs, sends or stores anything.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from outlast.errors import OperationTimeoutError
from outlast.workers.execution._steps import Dead, Step

__all__ = ["TimeLimitError", "as_time_limit", "hard_limit_error", "timeout_reason"]


class TimeLimitError(OperationTimeoutError):
    """An attempt ran past the worker's time limit (soft: interrupted; hard: killed)."""

    default_code = "TIME_LIMIT_EXCEEDED"


def as_time_limit(error: Exception) -> Exception:
    """``error``, or the timeout it stands for when it is Celery's soft time limit."""
    if isinstance(error, SoftTimeLimitExceeded):
        timeout = TimeLimitError("soft time limit exceeded: the attempt was interrupted")
        timeout.__cause__ = error  # the letter's traceback shows where the limit struck
        return timeout
    return error


def hard_limit_error(limit: object) -> TimeLimitError:
    """The timeout of an attempt whose process was killed at the hard limit ``limit``."""
    return TimeLimitError(f"hard time limit ({limit}s) exceeded: the worker process was killed")


def timeout_reason(step: Step) -> Step:
    """``step``, with the reason ``timeout`` when it gives up work a time limit cut short."""
    if isinstance(step, Dead) and isinstance(step.error, TimeLimitError):
        return Dead("timeout", step.error)
    return step
