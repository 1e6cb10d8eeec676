"""The email task's parts without a worker: input checks, the Message-ID, the message, the
classification of SMTP failures (on aiosmtplib's own errors and against a real aiosmtpd
server on loopback) and the retry policy the task runs under."""

from __future__ import annotations

import datetime
import pickle
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _servers import free_port
from _smtp_server import (
    ScriptedHandler,
    SmtpServer,
    self_signed_certificate,
    server_tls_context,
    start_smtp_server,
)
from outlast.config import reload_settings
from outlast.errors import ConfigurationError, ValidationError
from outlast.resilience.retry._retry_policy import policy_for
from outlast.tasks._email_message import address_of, build_message, message_id_for
from outlast.tasks._smtp import SmtpRelay, deliver, translate
from outlast.tasks.emails import (
    MAX_RECIPIENTS,
    SEND_TASK,
    EmailDeferredError,
    EmailRejectedError,
    email_queue,
    send_retry_config,
    validate_email,
)
from outlast.workers import spec_for

MESSAGE_ID = re.compile(r"<[0-9a-f]{32}@[A-Za-z0-9.-]+>")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on loopback, stopped afterwards."""
    with start_smtp_server() as server:
        yield server


def relay(port: int) -> SmtpRelay:
    return SmtpRelay(host="127.0.0.1", port=port, timeout=5.0)


def message(to: list[str], key: str = "k1") -> EmailMessage:
    return build_message(
        sender="app@example.com", to=to, subject="Hello", body="Hi there",
        html=None, message_id=message_id_for(key, sender="app@example.com"), date=0.0,
    )  # fmt: skip


# --- the Message-ID -------------------------------------------------------------------


@given(key=st.text(min_size=1, max_size=200))
def test_message_id_is_a_pure_function_of_the_key(key: str) -> None:
    """The same key always gives the same well-formed Message-ID, on the sender's domain."""
    first = message_id_for(key, sender="Shop <orders@shop.example>")
    assert first == message_id_for(key, sender="Shop <orders@shop.example>")
    assert MESSAGE_ID.fullmatch(first)
    assert first.endswith("@shop.example>")


@given(keys=st.lists(st.text(min_size=1, max_size=50), min_size=2, max_size=20, unique=True))
def test_different_keys_give_different_message_ids(keys: list[str]) -> None:
    """Distinct keys never share a Message-ID (so distinct emails are never de-duplicated)."""
    ids = {message_id_for(key, sender="a@b.example") for key in keys}
    assert len(ids) == len(keys)


@pytest.mark.parametrize("sender", ["outlast", "", "x@[192.0.2.1]", "x@exa_mple.com"])
def test_a_sender_without_a_usable_domain_falls_back_to_localhost(sender: str) -> None:
    """A Message-ID is well formed whatever smtp_from holds."""
    assert message_id_for("k", sender=sender).endswith("@localhost>")


def test_the_message_carries_headers_text_and_html() -> None:
    """From, To, Subject, Date and Message-ID are set; html adds a text/html alternative."""
    built = build_message(
        sender="app@example.com", to=["a@x.example", "b@y.example"], subject="Grüße",
        body="plain words\n", html="<p>rich words</p>", message_id="<abc@example.com>",
        date=86_400.0,
    )  # fmt: skip
    assert built["From"] == "app@example.com"
    assert built["To"] == "a@x.example, b@y.example"
    assert built["Subject"] == "Grüße"
    assert built["Message-ID"] == "<abc@example.com>"
    assert built["Date"].datetime == datetime.datetime(1970, 1, 2, tzinfo=datetime.UTC)
    text, html = built.iter_parts()
    assert text.get_content() == "plain words\n"
    assert (html.get_content_type(), html.get_content()) == ("text/html", "<p>rich words</p>\n")


# --- classification of failures ------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (aiosmtplib.SMTPResponseException(421, "closing"), EmailDeferredError, 421),
        (aiosmtplib.SMTPDataError(451, "local error"), EmailDeferredError, 451),
        (aiosmtplib.SMTPSenderRefused(452, "full", "a@b.c"), EmailDeferredError, 452),
        (aiosmtplib.SMTPDataError(550, "no"), EmailRejectedError, 550),
        (aiosmtplib.SMTPAuthenticationError(535, "bad login"), EmailRejectedError, 535),
        (aiosmtplib.SMTPConnectResponseError(554, "go away"), EmailRejectedError, 554),
        (aiosmtplib.SMTPServerDisconnected("gone"), EmailDeferredError, None),
        (aiosmtplib.SMTPConnectError("refused"), EmailDeferredError, None),
        (aiosmtplib.SMTPReadTimeoutError("slow"), EmailDeferredError, None),
        (ConnectionRefusedError(111, "refused"), EmailDeferredError, None),
        (TimeoutError(), EmailDeferredError, None),
        (aiosmtplib.SMTPNotSupported("no SMTPUTF8"), EmailRejectedError, None),
        (aiosmtplib.SMTPException("STARTTLS not supported"), EmailRejectedError, None),
    ],
)
def test_replies_and_connection_failures_are_classified(
    error: BaseException, kind: type[Exception], code: int | None
) -> None:
    """4xx, connection and timeout failures are deferred; 5xx and missing extensions rejected."""
    translated = translate(error)
    assert type(translated) is kind
    assert translated.code == code
    if code is not None:
        assert str(code) in str(translated)


def test_recipients_refusals_are_permanent_only_when_all_are() -> None:
    """Every recipient refused with 5xx is a rejection; one 4xx among them makes it a deferral."""
    hard = [aiosmtplib.SMTPRecipientRefused(550, "no such user", f"u{i}@x.example") for i in (1, 2)]
    soft = aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "u3@x.example")
    rejected = translate(aiosmtplib.SMTPRecipientsRefused(hard))
    deferred = translate(aiosmtplib.SMTPRecipientsRefused([*hard, soft]))
    assert (type(rejected), rejected.code) == (EmailRejectedError, 550)
    assert (type(deferred), deferred.code) == (EmailDeferredError, 450)
    assert "u1@x.example" in str(rejected)


@pytest.mark.parametrize("kind", [EmailDeferredError, EmailRejectedError])
def test_errors_rebuild_from_their_args_and_pickle(kind: type[EmailDeferredError]) -> None:
    """Celery rebuilds a stored error as cls(*args): message and code survive, and pickling."""
    error = kind("the relay answered 421 busy", 421)
    for rebuilt in (kind(*error.args), pickle.loads(pickle.dumps(error))):
        assert (str(rebuilt), rebuilt.code) == ("the relay answered 421 busy", 421)
    assert "421" not in error.user_message


def test_the_task_retries_deferrals_only() -> None:
    """The send task's policy retries a deferral and nothing else (5xx, bad input, bugs)."""
    policy = policy_for(spec_for(SEND_TASK).retry)
    assert policy.is_retryable(EmailDeferredError("busy", 421))
    assert not policy.is_retryable(EmailRejectedError("no", 550))
    assert not policy.is_retryable(ValidationError("bad"))
    assert not policy.is_retryable(ValueError("bug"))


def test_the_task_is_registered_as_the_issue_says() -> None:
    """outlast.emails.send: emails queue, email_sending retries and bulkhead, idempotent."""
    spec = spec_for(SEND_TASK)
    assert (spec.queue, spec.bulkhead, spec.idempotent) == ("emails", "email_sending", True)
    assert (spec.retry.max_attempts, spec.retry.initial_delay) == (5, 2.0)


def test_settings_change_the_retry_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_RETRIES__EMAIL_SENDING__* overrides reach the task's retry config."""
    monkeypatch.setenv("OUTLAST_RETRIES__EMAIL_SENDING__INITIAL_DELAY", "0.25")
    monkeypatch.setenv("OUTLAST_RETRIES__EMAIL_SENDING__MAX_ATTEMPTS", "7")
    reload_settings()
    config = send_retry_config()
    assert (config.max_attempts, config.initial_delay) == (7, 0.25)
    assert config.retryable_exceptions == (EmailDeferredError,)


def test_relay_refuses_tls_and_starttls_together_and_hides_the_password() -> None:
    """Both TLS modes at once is a configuration error; the password never shows in a repr."""
    with pytest.raises(ConfigurationError, match="exclude each other"):
        SmtpRelay(host="h", port=25, starttls=True, tls=True)
    assert "s3cret" not in repr(SmtpRelay(host="h", port=25, username="u", password="s3cret"))


# --- delivery against a real SMTP server ----------------------------------------------


async def test_deliver_hands_the_message_over(smtp: SmtpServer) -> None:
    """Accepted by every recipient: nothing refused, and the server has the message."""
    refused = await deliver(
        message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
        relay=relay(smtp.port),
    )  # fmt: skip
    assert refused == {}
    [got] = smtp.handler.received
    assert (got.mail_from, got.rcpt_tos) == ("app@example.com", ("a@x.example",))


@pytest.mark.parametrize(
    ("handler", "kind", "code"),
    [
        (ScriptedHandler(defer_first=1), EmailDeferredError, 421),
        (ScriptedHandler(reject_all=True), EmailRejectedError, 550),
        (ScriptedHandler(reject_recipients={"a@x.example"}), EmailRejectedError, 550),
    ],
)
async def test_deliver_translates_the_servers_refusals(
    handler: ScriptedHandler, kind: type[Exception], code: int
) -> None:
    """A 421 at DATA is deferred; a 550 at DATA or for the only recipient is rejected."""
    with start_smtp_server(handler) as server:
        with pytest.raises(kind) as caught:
            await deliver(
                message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
                relay=relay(server.port),
            )  # fmt: skip
        assert server.handler.received == []
    assert getattr(caught.value, "code", None) == code
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPException)


async def test_deliver_reports_recipients_refused_beside_accepted_ones() -> None:
    """One recipient refused, one accepted: the message goes through and the refusal is named."""
    handler = ScriptedHandler(reject_recipients={"gone@x.example"})
    with start_smtp_server(handler) as server:
        refused = await deliver(
            message(["ok@x.example", "gone@x.example"]), sender="app@example.com",
            recipients=["ok@x.example", "gone@x.example"], relay=relay(server.port),
        )  # fmt: skip
        [got] = server.handler.received
    assert refused == {"gone@x.example": 550}
    assert got.rcpt_tos == ("ok@x.example",)


async def test_nothing_listening_is_a_deferral() -> None:
    """A refused connection is retryable: the relay may be back later."""
    with pytest.raises(EmailDeferredError, match="could not talk to the relay") as caught:
        await deliver(
            message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
            relay=relay(free_port()),
        )  # fmt: skip
    assert caught.value.code is None


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed_certificate(tmp_path)


async def test_implicit_tls_verifies_the_relays_certificate(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS from the first byte: an untrusted certificate is a deferral, a trusted one sends."""
    cert, key = certificate
    with start_smtp_server(implicit_tls=server_tls_context(cert, key)) as server:
        tls_relay = SmtpRelay(host="127.0.0.1", port=server.port, tls=True, timeout=5.0)
        with pytest.raises(EmailDeferredError, match="CERTIFICATE_VERIFY_FAILED"):
            await deliver(
                message(["a@x.example"]), sender="app@example.com",
                recipients=["a@x.example"], relay=tls_relay,
            )  # fmt: skip
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        await deliver(
            message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
            relay=tls_relay,
        )  # fmt: skip
        [got] = server.handler.received
    assert got.over_tls


@pytest.mark.parametrize(
    ("settings", "code", "words"),
    [
        ({"starttls": True, "username": "mailer", "password": "wrong"}, 535, "535"),
        ({"username": "mailer", "password": "right"}, None, "AUTH extension"),
        ({}, 530, "STARTTLS"),
        ({"starttls": True}, 530, "Authentication required"),
    ],
)
async def test_a_relay_that_insists_on_starttls_and_login_rejects_what_lacks_them(
    settings: dict[str, Any],
    code: int | None,
    words: str,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong password, no STARTTLS or no login is permanent: only new settings can help."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with start_smtp_server(
        tls_context=server_tls_context(cert, key), require_starttls=True,
        logins={"mailer": "right"},
    ) as server:  # fmt: skip
        with pytest.raises(EmailRejectedError, match=words) as caught:
            await deliver(
                message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
                relay=SmtpRelay(host="127.0.0.1", port=server.port, timeout=5.0, **settings),
            )  # fmt: skip
        assert server.handler.received == []
    assert caught.value.code == code


async def test_starttls_asked_of_a_relay_without_it_is_rejected(smtp: SmtpServer) -> None:
    """smtp_starttls against a relay that offers no STARTTLS fails for good, never in clear."""
    with pytest.raises(EmailRejectedError, match="STARTTLS"):
        await deliver(
            message(["a@x.example"]), sender="app@example.com", recipients=["a@x.example"],
            relay=SmtpRelay(host="127.0.0.1", port=smtp.port, starttls=True, timeout=5.0),
        )  # fmt: skip
    assert smtp.handler.offers() == 0


# --- input checks ---------------------------------------------------------------------


def test_one_address_or_a_list_is_accepted() -> None:
    """``to`` may be one address or a list; either way the task gets a list."""
    assert validate_email(to="a@x.example", subject="s", body="b")["to"] == ["a@x.example"]
    many = validate_email(to=("a@x.example", "b@y.example"), subject="s", body="line\nline")
    assert many["to"] == ["a@x.example", "b@y.example"]
    assert many["body"] == "line\nline"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"to": "not-an-address"}, "to", "validator"),
        ({"to": "two words@x.example"}, "to", "validator"),
        ({"to": ["a@x.example", "b@"]}, "to[1]", "validator"),
        ({"to": []}, "to", "min_length"),
        ({"to": [f"u{i}@x.example" for i in range(MAX_RECIPIENTS + 1)]}, "to", "max_length"),
        ({"to": None}, "to", "required"),
        ({"to": 42}, "to", "type"),
        ({"subject": "Hello\r\nBcc: victim@x.example"}, "subject", "validator"),
        ({"subject": None}, "subject", "required"),
        ({"body": "bell\x07"}, "body", "control_characters"),
        ({"html": b"<p>bytes</p>"}, "html", "type"),
        ({"idempotency_key": "   "}, "idempotency_key", "validator"),
    ],
)
def test_add_refuses_bad_input_naming_the_field(
    fields: dict[str, object], field: str, code: str
) -> None:
    """Bad input raises ValidationError naming the field; nothing is sent to any broker."""
    email: dict[str, object] = {"to": "a@x.example", "subject": "s", "body": "b", **fields}
    with pytest.raises(ValidationError) as caught:
        email_queue.add(**email)  # type: ignore[arg-type]
    assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]


@pytest.mark.parametrize(
    ("message_id", "code"),
    [
        (None, "required"),
        ("no-angle-brackets@x.example", "pattern"),
        ("<a@b>\r\nBcc: c", "pattern"),
    ],
)
def test_the_worker_requires_a_well_formed_message_id(message_id: str | None, code: str) -> None:
    """A send message without a proper Message-ID (hand-made, not from add) is refused."""
    with pytest.raises(ValidationError) as caught:
        validate_email(to="a@x.example", subject="s", body="b", message_id=message_id, sending=True)
    assert [(e.field, e.code) for e in caught.value.errors] == [("message_id", code)]


def test_the_envelope_sender_is_the_bare_address() -> None:
    """A display name in smtp_from stays in the From header, not in MAIL FROM."""
    assert address_of("Shop <orders@shop.example>") == "orders@shop.example"
    assert address_of("orders@shop.example") == "orders@shop.example"
