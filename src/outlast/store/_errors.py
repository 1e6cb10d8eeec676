"""The errors of the durable store, and the one boundary where driver errors are translated.

A store never lets a Redis or MongoDB driver exception escape: :func:`translate_errors`
turns it into :class:`StoreUnavailableError` (the original stays as ``__cause__``), so the
worker system handles "the store did not answer" in one place. Records that fail their
own checks raise :class:`InvalidRecordError` before anything is written.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from outlast.errors import StoreUnavailableError

__all__ = [
    "InvalidRecordError",
    "StoreUnavailableError",
    "Translating",
    "redact_url",
    "translate_errors",
    "translated",
]


class InvalidRecordError(ValueError):
    """A store record (or an argument naming one) is invalid; ``field`` names the culprit."""

    def __init__(self, record: str, field: str, problem: str) -> None:
        super().__init__(f"{record}.{field}: {problem}")
        self.record = record
        self.field = field


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def translate_errors(
    driver_errors: tuple[type[BaseException], ...], *, backend: str, target: str, operation: str
) -> Iterator[None]:
    """Re-raise any of ``driver_errors`` raised inside the block as StoreUnavailableError."""
    try:
        yield
    except driver_errors as error:
        raise StoreUnavailableError(
            f"{backend} store at {target} failed during {operation}: "
            f"{type(error).__name__}: {error}",
            backend=backend,
            operation=operation,
        ) from error


class Translating(Protocol):
    """A store that knows how to translate its driver's errors for one operation."""

    def translation(self, operation: str) -> AbstractContextManager[None]:
        """A context in which driver errors become StoreUnavailableError."""
        ...


S = TypeVar("S", bound=Translating)
P = ParamSpec("P")
T = TypeVar("T")


def translated(
    method: Callable[Concatenate[S, P], Awaitable[T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Decorate a store method so that driver errors leave it as StoreUnavailableError."""
    operation = method.__name__

    @functools.wraps(method)
    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.translation(operation):
            return await method(self, *args, **kwargs)

    return call
