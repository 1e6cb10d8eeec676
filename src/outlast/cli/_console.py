"""What the operators' commands share: their one-line errors, their output and their
connections (the settings' Redis and store, with short timeouts).

A command never shows a traceback: it raises :class:`CommandError` (or lets a store, Redis
or broker error through to :func:`outlast.cli._operator.run_operator`, which turns it into
one line). Output is plain aligned text for people, or JSON with ``--json`` for scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from outlast.config import get_settings
from outlast.resilience.shared._redis_link import RedisLink, Unavailable
from outlast.store import DEFAULT_REDIS_URL, Store, open_store
from outlast.store._errors import redact_url

__all__ = [
    "NOT_FOUND",
    "UNAVAILABLE",
    "USAGE",
    "CommandError",
    "checked_link",
    "emit_json",
    "redis_url",
    "store",
    "table",
]

UNAVAILABLE, NOT_FOUND, USAGE = 1, 1, 2
LINK_TIMEOUT = 2.0


class CommandError(Exception):
    """A command could not do what was asked: ``message`` is the one line shown, ``code``
    the exit status (1 for a missing thing or a service down, 2 for a bad request)."""

    def __init__(self, message: str, code: int = UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


def redis_url() -> str:
    """The Redis every process shares state through."""
    return get_settings().redis_url or DEFAULT_REDIS_URL


def checked_link() -> RedisLink:
    """A link to the settings' Redis that answered a PING (CommandError if it did not)."""
    settings = get_settings()
    link = RedisLink(
        redis_url(), namespace=settings.namespace, socket_timeout=LINK_TIMEOUT, retry_interval=0.0
    )
    if isinstance(link.call(lambda client: client.ping()), Unavailable):
        link.close()
        raise CommandError(
            f"Redis at {redact_url(redis_url())} does not answer (OUTLAST_REDIS_URL)"
        )
    return link


def store() -> Store:
    """A new client of the configured store (the caller closes it)."""
    return open_store()


def emit_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "(none)") -> str:
    """``rows`` under ``headers`` in left-aligned columns (``empty`` when there is no row)."""
    cells = [[_cell(value) for value in row] for row in rows]
    if not cells:
        return f"  {empty}"
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    return "\n".join(_line(line, widths) for line in [list(headers), *cells])


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_err(message: str) -> None:
    """One line on stderr."""
    print(message, file=sys.stderr, flush=True)
