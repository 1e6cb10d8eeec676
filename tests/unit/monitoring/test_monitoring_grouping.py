"""Grouping: parameterized messages, fingerprints, redaction and categories."""

from __future__ import annotations

import random

import pytest

from outlast.errors import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    ErrorContext,
    ErrorSeverity,
    StoreUnavailableError,
    ValidationError,
)
from outlast.monitoring import ErrorCategory, categorize, parameterize, redact
from outlast.monitoring._event import Capture, ErrorEventData, build_event
from outlast.monitoring._normalize import _parameterize_whole


def _raise(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def _event(error: BaseException, operation: str = "orders.create") -> ErrorEventData:
    capture = Capture(
        error=_raise(error),
        context=ErrorContext(operation=operation, user_id="u1", request_id="r1"),
        severity=None,
        recovery_attempted=False,
        recovery_successful=None,
        occurred_at=1_700_000_000.0,
    )
    return build_event(capture)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("user 12345 not found", "user 7 not found"),
        (
            "order 550e8400-e29b-41d4-a716-446655440000 stuck",
            "order 9f1c2e3d-0a1b-4c5d-8e9f-001122334455 stuck",
        ),
        ("mail to bob@example.com bounced", "mail to alice.smith@corp.example.org bounced"),
        ("cannot reach db1.example.com:5432", "cannot reach replica-7.internal:6543"),
        ("host 10.0.0.12 down", "host 192.168.1.254 down"),
        ("GET https://api.x.com/v1/u/3 failed", "GET https://api.x.com/v2/orders?id=9 failed"),
        ("blob deadbeef12 missing", "blob 0badc0ffee99 missing"),
        ("took 30s then 15ms", "took 2s then 900ms"),
        ("at 2024-01-02T03:04:05Z", "at 2026-12-06T05:00:00+01:00"),
        ("value='abc' rejected", 'value="xyz" rejected'),
    ],
)
def test_messages_differing_only_in_values_share_a_fingerprint(first: str, second: str) -> None:
    """Two errors whose messages differ only in ids, numbers, emails, hosts... group together."""
    one, two = _event(LookupError(first)), _event(LookupError(second))
    assert one.normalized_message == two.normalized_message
    assert one.fingerprint == two.fingerprint


def test_different_errors_do_not_share_a_fingerprint() -> None:
    """A different type, message, operation or raising frame makes a different group."""
    base = _event(LookupError("user 1 not found"))
    others = [
        _event(KeyError("user 1 not found")),
        _event(LookupError("user 1 disabled")),
        _event(LookupError("user 1 not found"), operation="orders.cancel"),
    ]
    assert len({base.fingerprint, *(e.fingerprint for e in others)}) == 4


def test_the_raising_in_app_frame_is_part_of_the_fingerprint() -> None:
    """The same error raised from two functions of the application is two groups."""

    def first() -> None:
        raise ValueError("bad")

    def second() -> None:
        raise ValueError("bad")

    events = []
    for fn in (first, second):
        try:
            fn()
        except ValueError as error:
            capture = Capture(error, {"operation": "x"}, None, False, None, 0.0)
            events.append(build_event(capture))
    assert events[0].fingerprint != events[1].fingerprint
    assert events[0].traceback[-1].endswith("in first")


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("login failed password=hunter2 for bob", "hunter2"),
        ("db error: PASSWORD: 's3cr3t value'", "s3cr3t value"),
        ("api_key=AbC123xyz987 rejected", "AbC123xyz987"),
        ("Authorization: Bearer eyA1b2C3d4E5f6G7 expired", "eyA1b2C3d4E5f6G7"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_part-1 invalid", "eyJzdWIiOiIxIn0"),
        ("connect redis://admin:topsecret@cache:6379/0 refused", "topsecret"),
        ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
        ("charge 4111111111111111 declined", "4111111111111111"),
        ("key sk_live_abcdefgh12345678 revoked", "sk_live_abcdefgh12345678"),
        ("client_secret: q9w8e7r6 leaked", "q9w8e7r6"),
    ],
)
def test_secrets_are_redacted(message: str, secret: str) -> None:
    """Passwords, tokens, keys, URL passwords and card numbers never reach an event."""
    event = _event(RuntimeError(message))
    assert secret not in event.message
    assert secret not in event.normalized_message
    assert "[REDACTED]" in redact(message)


def test_a_number_that_fails_the_luhn_check_is_not_redacted_as_a_card() -> None:
    """Long numbers that are not card numbers (order ids) stay, to be parameterized."""
    assert redact("order 1234567890123456 failed") == "order 1234567890123456 failed"


def test_parameterize_names_each_kind() -> None:
    """Each kind of value becomes its own placeholder, in Sentry's order."""
    text = (
        "bob@x.com at https://a.io/p from 10.1.2.3 id 3f786850e387550fdab836ed7e6dc881de23001b n=42"
    )
    assert parameterize(text) == "<email> at <url> from <ip> id <sha1> n=<int>"


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (TimeoutError("slow"), ErrorCategory.TIMEOUT),
        (TimeoutError(), ErrorCategory.TIMEOUT),
        (ConnectionRefusedError("no"), ErrorCategory.NETWORK),
        (CircuitBreakerOpenError(name="payments", retry_after=3.0), ErrorCategory.NETWORK),
        (StoreUnavailableError(backend="redis", operation="put"), ErrorCategory.DATABASE),
        (ValidationError("bad input"), ErrorCategory.VALIDATION),
        (ValueError("bad"), ErrorCategory.VALIDATION),
        (PermissionError("denied"), ErrorCategory.SECURITY),
        (BulkheadCapacityError(name="db", capacity=2), ErrorCategory.RESOURCE),
        (MemoryError(), ErrorCategory.RESOURCE),
        (AttributeError("x"), ErrorCategory.PROGRAMMING),
        (KeyError("x"), ErrorCategory.PROGRAMMING),
        (RuntimeError("x"), ErrorCategory.UNKNOWN),
    ],
)
def test_errors_are_categorized(error: BaseException, category: ErrorCategory) -> None:
    """Each error lands in its category (timeouts before network errors)."""
    assert categorize(error) is category


def test_an_event_keeps_every_field() -> None:
    """An event carries ids, context, category, default severity, traceback, host and pid."""
    event = _event(ConnectionError("refused by 10.0.0.1"), operation="payments.charge")
    assert len(event.id) == 32
    assert event.error_type == "builtins.ConnectionError"
    assert event.operation == "payments.charge"
    assert event.service == "payments"
    assert (event.user_id, event.request_id) == ("u1", "r1")
    assert event.category is ErrorCategory.NETWORK
    assert event.severity is ErrorSeverity.MEDIUM
    assert all((event.traceback, event.host, event.pid > 0))
    assert event.as_dict()["category"] == "network"


def test_word_by_word_parameterization_equals_the_whole_message_pattern() -> None:
    """The word-by-word fast path gives exactly what the whole-message pattern gives, on
    60,000 seeded random messages made of the characters values are made of."""
    rng = random.Random(3)
    alphabets = (
        "ab1 2:.-_@=x'\"9fF0 ",
        "abcdef0123456789 :.-_@=/xyz'\"TZ+",
        "Jan 2024-01-02 3:04 PM=",
    )
    corpus = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        for alphabet in alphabets
        for _ in range(20_000)
    ]
    assert [m for m in corpus if parameterize(m) != _parameterize_whole(m)] == []
    assert parameterize("bind :: then fe80::1 failed") == "bind <ip> then <ip> failed"
