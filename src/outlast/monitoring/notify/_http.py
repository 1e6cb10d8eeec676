"""The meaning of a provider's HTTP answer, shared by the HTTP channels.

2xx in the channel's expected set is delivered. 429 (rate limited), 408 and every 5xx are
deferred, with the wait the provider asked for in Retry-After; any other status is a
refusal for good (a bad payload, a wrong key or URL). A connection that fails or times out
is deferred. Never reads a clock: the caller passes ``now`` for an HTTP-date Retry-After.
Proxies and CA bundles come from the environment (``HTTPS_PROXY``, ``SSL_CERT_FILE``), as
httpx reads them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

import httpx

from outlast.monitoring.notify._errors import NotificationDeferredError, NotificationRejectedError
from outlast.resilience.retry._retry_after import parse_retry_after

__all__ = ["check_answer", "post_json", "retry_after_in", "unreachable"]

_RETRYABLE: Final = frozenset({408, 425, 429})
_BODY_SHOWN: Final = 200


def retry_after_in(headers: Mapping[str, Any] | None, *, now: float) -> float | None:
    """The Retry-After of ``headers`` in seconds (any case of the name), or None."""
    for name, value in (headers or {}).items():
        if str(name).lower() == "retry-after" and value is not None:
            return parse_retry_after(str(value), now=now)
    return None


def check_answer(
    channel: str,
    status: int,
    body: str,
    headers: Mapping[str, Any] | None,
    *,
    ok: Collection[int],
    now: float,
) -> None:
    """Return if ``status`` is one of ``ok``; else raise the error it means."""
    if status in ok:
        return
    said = f"{channel} answered {status}: {body[:_BODY_SHOWN]!r}"
    if status in _RETRYABLE or status >= 500:
        raise NotificationDeferredError(said, retry_after_in(headers, now=now))
    raise NotificationRejectedError(said)


def unreachable(channel: str, error: BaseException) -> NotificationDeferredError:
    """The deferral for a connection that failed or timed out."""
    return NotificationDeferredError(f"could not reach {channel}: {type(error).__name__}: {error}")


async def post_json(
    channel: str, url: str, payload: Any, *, ok: Collection[int], wait: float, now: float
) -> httpx.Response:
    """POST ``payload`` as JSON to ``url`` (waiting at most ``wait`` seconds); the answer if
    its status is one of ``ok``."""
    try:
        async with httpx.AsyncClient(timeout=wait) as client:
            answer = await client.post(url, json=payload)
    except httpx.TransportError as error:
        raise unreachable(channel, error) from error
    check_answer(channel, answer.status_code, answer.text, answer.headers, ok=ok, now=now)
    return answer
