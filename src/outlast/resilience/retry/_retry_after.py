"""How long a server asked us to wait: the Retry-After carried by an error.

Read, in order, from an ``error.retry_after`` attribute (seconds, as Outlast's
``CircuitBreakerOpenError`` carries it), then from a ``Retry-After`` header on
``error.response.headers`` (httpx and requests HTTP errors) or ``error.headers`` (urllib,
aiohttp). A header holds delta-seconds or an HTTP-date (RFC 9110 section 10.2.3).

Never raises: a missing, negative or garbled value gives None (a date in the past gives
0.0), because reading a hint must never turn one failure into another. Never reads a
clock either: the caller passes ``now`` (wall-clock seconds, from ``Clock.time()``).
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
from typing import Any

__all__ = ["parse_retry_after", "retry_after_of"]

_HEADER = "Retry-After"


def retry_after_of(error: BaseException, *, now: float) -> float | None:
    """Seconds ``error`` says to wait before the next attempt, or None if it says nothing."""
    seconds = _seconds(_attribute(error, "retry_after"), now)
    if seconds is not None:
        return seconds
    response = _attribute(error, "response")
    headers = _attribute(response, "headers") if response is not None else None
    if headers is None:
        headers = _attribute(error, "headers")
    return _seconds(_header(headers), now)


def parse_retry_after(value: str | bytes, *, now: float) -> float | None:
    """A Retry-After header value as seconds from ``now``; None when it cannot be read."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _until_http_date(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0.0 else None


def _seconds(value: object, now: float) -> float | None:
    """A number of seconds, a timedelta or a header string, normalised to seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0.0 else None
    if isinstance(value, _dt.timedelta):
        return _seconds(value.total_seconds(), now)
    if isinstance(value, str | bytes):
        return parse_retry_after(value, now=now)
    return None


def _until_http_date(text: str, now: float) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000" means UTC with no claim about local time
        moment = moment.replace(tzinfo=_dt.UTC)
    return max(0.0, moment.timestamp() - now)


def _header(headers: Any) -> object:
    """The Retry-After value of any mapping-like headers object, or None."""
    getter = _attribute(headers, "get") if headers is not None else None
    if not callable(getter):
        return None
    try:
        # httpx, requests, urllib and aiohttp headers ignore case; a plain dict does not.
        value = getter(_HEADER)
        return value if value is not None else getter(_HEADER.lower())
    except Exception:
        return None


def _attribute(obj: object, name: str) -> Any:
    """``getattr`` that also survives properties raising something else than AttributeError."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None
