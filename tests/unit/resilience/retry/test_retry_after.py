"""Reading a server's Retry-After from an error: attribute, headers, seconds and HTTP-dates."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

import httpx
import pytest

from outlast.errors import CircuitBreakerOpenError
from outlast.resilience.retry._retry_after import parse_retry_after, retry_after_of

NOW = 1_700_000_000.0


class WithRetryAfter(Exception):
    """An error carrying a retry_after attribute, as some SDK errors do."""

    def __init__(self, retry_after: object) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after


class WithHeaders(Exception):
    """An error carrying headers directly, as urllib's HTTPError does."""

    def __init__(self, headers: Any) -> None:
        super().__init__("slow down")
        self.headers = headers


class BrokenResponse(Exception):
    """An error whose response property itself fails."""

    @property
    def response(self) -> Any:
        raise RuntimeError("no response was attached")


def _status_error(retry_after: str) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example.test/items")
    response = httpx.Response(429, headers={"Retry-After": retry_after}, request=request)
    return httpx.HTTPStatusError("429 Too Many Requests", request=request, response=response)


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


@pytest.mark.parametrize("value", [0, 3, 2.5])
def test_numeric_attribute_is_seconds(value: float) -> None:
    """An error.retry_after number is the wait in seconds."""
    assert retry_after_of(WithRetryAfter(value), now=NOW) == float(value)


def test_open_breaker_error_gives_its_retry_after() -> None:
    """CircuitBreakerOpenError's retry_after is read like any other."""
    assert retry_after_of(CircuitBreakerOpenError("db", 12.5), now=NOW) == 12.5


def test_timedelta_attribute_is_converted() -> None:
    """A timedelta retry_after is turned into seconds."""
    assert retry_after_of(WithRetryAfter(dt.timedelta(minutes=2)), now=NOW) == 120.0


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, object(), "soon"])
def test_unusable_attribute_gives_none(value: object) -> None:
    """Negative, non-finite, boolean or garbled retry_after values are ignored."""
    assert retry_after_of(WithRetryAfter(value), now=NOW) is None


def test_httpx_status_error_delta_seconds() -> None:
    """The Retry-After header of an httpx.HTTPStatusError's response is read as seconds."""
    assert retry_after_of(_status_error("7"), now=NOW) == 7.0


def test_httpx_status_error_http_date() -> None:
    """An HTTP-date Retry-After is the time from now until that date."""
    assert retry_after_of(_status_error(_http_date(NOW + 30)), now=NOW) == 30.0


def test_http_date_in_the_past_means_no_wait() -> None:
    """A Retry-After date already passed gives 0.0, not a negative wait."""
    assert retry_after_of(_status_error(_http_date(NOW - 300)), now=NOW) == 0.0


def test_headers_on_the_error_itself_in_any_case() -> None:
    """error.headers is read too, with a lower-case key in a plain dict."""
    assert retry_after_of(WithHeaders({"retry-after": "4"}), now=NOW) == 4.0
    assert retry_after_of(WithHeaders({"Retry-After": "5"}), now=NOW) == 5.0


@pytest.mark.parametrize("value", ["", "  ", "-3", "soon", "NaN", "Fri, 99 Foo 2024"])
def test_garbled_header_gives_none(value: str) -> None:
    """An empty, negative or unparseable header value is ignored."""
    assert retry_after_of(WithHeaders({"Retry-After": value}), now=NOW) is None


def test_errors_without_any_hint_give_none() -> None:
    """Plain errors, odd headers objects and failing properties all give None, never raise."""
    assert retry_after_of(ConnectionError("reset"), now=NOW) is None
    assert retry_after_of(WithHeaders(["Retry-After: 3"]), now=NOW) is None
    assert retry_after_of(BrokenResponse("boom"), now=NOW) is None


def test_parse_accepts_bytes_and_whitespace() -> None:
    """Header values as bytes or padded with spaces are read."""
    assert parse_retry_after(b" 12 ", now=NOW) == 12.0
