"""Fallbacks: what answers when the protected call gives up.

A fallback receives the call's own arguments. It answers for any ``Exception`` except
``ValidationError``: bad input is the caller's to fix, and no fallback can make it right.
Cancellation and interpreter exits are never swallowed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from outlast.errors import ConfigurationError, ValidationError
from outlast.resilience._events import FallbackUsed, publish

__all__ = ["check_fallback", "fallback_applies", "note_fallback"]


def check_fallback(fallback: Callable[..., Any] | None, *, is_async: bool, operation: str) -> None:
    """Refuse an async fallback for a sync function: it could never be awaited."""
    if fallback is not None and not is_async and inspect.iscoroutinefunction(fallback):
        raise ConfigurationError(
            f"fallback_func of {operation!r} is async but the function it protects is sync"
        )


def fallback_applies(error: BaseException) -> bool:
    """Whether a fallback may answer for ``error``."""
    return isinstance(error, Exception) and not isinstance(error, ValidationError)


def note_fallback(operation: str, error: BaseException) -> None:
    """Publish that the fallback answered for ``operation``."""
    publish(FallbackUsed(operation=operation, error=error))
