"""Email end to end: real worker processes send through a real aiosmtpd server on loopback.

Each test starts an SMTP server scripted for its case, then a prefork worker on the
``emails`` queue pointed at it, queues email from a separate process with the seed-style
``await email_queue.add(...)``, and checks what the server received, the task's result and
the dead letters in the store. Retries run on a quick schedule set through settings
(``OUTLAST_RETRIES__EMAIL_SENDING__*``), as an operator would tune it. Every test runs
once per broker (``broker_url``: the test Redis, and RabbitMQ where one answers); results
and the store stay in the test Redis."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from _servers import free_port
from _smtp_server import (
    ScriptedHandler,
    self_signed_certificate,
    server_tls_context,
    start_smtp_server,
)
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.store import RedisStore
from outlast.tasks.emails import SEND_TASK, EmailRejectedError, message_id_for

TESTS_DIR = Path(__file__).resolve().parents[2]
SENDER = "Outlast Tests <robot@outlast.example>"

# Queues emails the way the seed's async fallbacks do: ``await email_queue.add(...)``.
ADD_EMAILS = """
import asyncio, json, sys
from outlast.tasks import email_queue

async def main():
    for email in json.loads(sys.argv[1]):
        print(json.dumps(await email_queue.add(**email)), flush=True)

asyncio.run(main())
"""


@pytest.fixture
def env(redis_url: str, broker_url: str, namespace: str) -> dict[str, str]:
    """The environment of workers and queuing processes (the SMTP port is added per test)."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["outlast.tasks.emails"]',
        "OUTLAST_SMTP_HOST": "127.0.0.1",
        "OUTLAST_SMTP_FROM": SENDER,
        "OUTLAST_SMTP_TIMEOUT": "5",
        "OUTLAST_RETRIES__EMAIL_SENDING__INITIAL_DELAY": "0.2",
        "OUTLAST_RETRIES__EMAIL_SENDING__JITTER": "false",
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@contextlib.contextmanager
def email_worker(env: dict[str, str], port: int, **extra: str) -> Iterator[WorkerProcess]:
    """A prefork worker on the emails queue, sending to 127.0.0.1:``port``."""
    command = celery_worker_command(["emails"], concurrency=1)
    with start_worker({**env, "OUTLAST_SMTP_PORT": str(port), **extra}, command) as worker:
        yield worker


def add_emails(env: dict[str, str], *emails: dict[str, Any]) -> list[dict[str, Any]]:
    """Queue ``emails`` from a separate process; what ``email_queue.add`` returned for each."""
    done = subprocess.run(
        [sys.executable, "-c", ADD_EMAILS, json.dumps(emails)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def email(**fields: Any) -> dict[str, Any]:
    """An email for ``add``, with defaults for what the test does not care about."""
    return {"to": "ada@example.org", "subject": "Your receipt", "body": "Thanks!", **fields}


def test_an_email_is_delivered_once_with_its_headers_and_parts(
    env: dict[str, str], results: Celery
) -> None:
    """From, To, Subject, text and HTML arrive; the Message-ID derives from the key; the same
    key queued again is answered from the first send, not sent twice."""
    with start_smtp_server() as smtp, email_worker(env, smtp.port):
        first, again = add_emails(
            env,
            email(
                to=["ada@example.org", "alan@example.net"], subject="Welcome aboard",
                body="Hello,\nwelcome.", html="<p>Hello, <b>welcome</b>.</p>",
                idempotency_key="welcome-ada",
            ),
            email(to="ada@example.org", idempotency_key="welcome-ada"),
        )  # fmt: skip
        outcome = results.AsyncResult(first["task_id"]).get(timeout=30)
        assert results.AsyncResult(again["task_id"]).get(timeout=30) == outcome
        [got] = smtp.handler.received
    expected_id = message_id_for("welcome-ada", sender=SENDER)
    assert first["message_id"] == again["message_id"] == expected_id
    assert outcome == {
        "message_id": expected_id,
        "accepted": ["ada@example.org", "alan@example.net"],
        "refused": {},
    }
    assert (got.mail_from, list(got.rcpt_tos)) == ("robot@outlast.example", outcome["accepted"])
    message = got.message
    assert (message["From"], message["Subject"]) == (SENDER, "Welcome aboard")
    assert message["To"] == "ada@example.org, alan@example.net"
    assert message["Message-ID"] == expected_id
    text, html = message.iter_parts()
    assert text.get_content() == "Hello,\nwelcome.\n"
    assert html.get_content_type() == "text/html"
    assert html.get_content() == "<p>Hello, <b>welcome</b>.</p>\n"


def test_a_421_is_retried_and_the_email_delivered_exactly_once(
    env: dict[str, str], results: Celery
) -> None:
    """The server answers 421 to the first offer: the retry is accepted, one message in all."""
    with start_smtp_server(ScriptedHandler(defer_first=1)) as smtp, email_worker(env, smtp.port):
        [sent] = add_emails(env, email(idempotency_key="receipt-421"))
        outcome = results.AsyncResult(sent["task_id"]).get(timeout=30)
        received = smtp.handler.received
        offers = smtp.handler.offers(sent["message_id"])
    assert outcome["accepted"] == ["ada@example.org"]
    assert offers == 2
    assert [r.message["Message-ID"] for r in received] == [sent["message_id"]]


async def test_a_550_lands_in_dead_letters_at_the_first_attempt(
    env: dict[str, str], results: Celery, store: RedisStore
) -> None:
    """A permanent refusal is not retried: dead letter at attempt 1, reply code in the error."""
    with start_smtp_server(ScriptedHandler(reject_all=True)) as smtp, email_worker(env, smtp.port):
        [sent] = add_emails(env, email(idempotency_key="receipt-550"))
        with pytest.raises(EmailRejectedError, match="550"):
            results.AsyncResult(sent["task_id"]).get(timeout=30)
        offers, received = smtp.handler.offers(), smtp.handler.received
    [letter] = await store.list_dead_letters(task_name=SEND_TASK)
    assert (letter.reason, letter.attempts) == ("non_retryable", 1)
    assert letter.error_type == "outlast.tasks._smtp.EmailRejectedError"
    assert "550 5.7.1 message refused by policy" in letter.error_message
    assert letter.idempotency_key == "receipt-550"
    assert (offers, received) == (1, [])


def test_a_relay_that_is_down_is_retried_until_it_answers(
    env: dict[str, str], results: Celery
) -> None:
    """Nothing listens at first: the attempts fail as retryable; once the server starts on
    that port, the email is delivered, once."""
    port = free_port()
    quick = {
        "OUTLAST_RETRIES__EMAIL_SENDING__BACKOFF_FACTOR": "1.0",
        "OUTLAST_RETRIES__EMAIL_SENDING__INITIAL_DELAY": "0.3",
        "OUTLAST_RETRIES__EMAIL_SENDING__MAX_ATTEMPTS": "60",
    }
    with email_worker(env, port, **quick) as worker:
        [sent] = add_emails(env, email(idempotency_key="receipt-down"))
        deadline = time.monotonic() + 30
        while "attempt 2 failed" not in worker.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "attempt 2 failed" in worker.log()
        with start_smtp_server(port=port) as smtp:
            outcome = results.AsyncResult(sent["task_id"]).get(timeout=30)
            received = smtp.handler.received
    assert outcome["accepted"] == ["ada@example.org"]
    assert [r.message["Message-ID"] for r in received] == [sent["message_id"]]


def test_starttls_with_a_verified_certificate_and_a_login(
    env: dict[str, str], results: Celery, tmp_path: Path
) -> None:
    """A relay that insists on STARTTLS and AUTH gets both: the worker verifies the
    certificate (trusted through SSL_CERT_FILE) and logs in before sending."""
    cert, key = self_signed_certificate(tmp_path)
    secure = {
        "OUTLAST_SMTP_STARTTLS": "true",
        "OUTLAST_SMTP_USERNAME": "mailer",
        "OUTLAST_SMTP_PASSWORD": "s3cret-pass",
        "SSL_CERT_FILE": str(cert),
    }
    server = start_smtp_server(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        logins={"mailer": "s3cret-pass"},
    )
    with server as smtp, email_worker(env, smtp.port, **secure):
        [sent] = add_emails(env, email(idempotency_key="receipt-tls"))
        outcome = results.AsyncResult(sent["task_id"]).get(timeout=30)
        [got] = smtp.handler.received
    assert outcome["accepted"] == ["ada@example.org"]
    assert (got.login, got.over_tls) == ("mailer", True)


def replay(env: dict[str, str], letter_id: str) -> str:
    """Replay a dead letter from a separate process; the new task id."""
    code = (
        "import asyncio, sys, outlast.tasks.emails; from outlast import dead_letters;"
        "print(asyncio.run(dead_letters.replay(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, letter_id],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for_messages(smtp: Any, count: int) -> list[Any]:
    """The server's accepted messages once there are ``count`` of them (30 s at most)."""
    deadline = time.monotonic() + 30
    while len(smtp.handler.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(smtp.handler.received)


async def test_refused_recipients_get_their_own_follow_up_and_no_one_a_second_copy(
    env: dict[str, str], results: Celery, store: RedisStore
) -> None:
    """Of three recipients the relay takes one, refuses one for now (450) and one for good
    (550): the first gets the message once, the second in a follow-up send to it alone,
    and the third becomes a dead letter that, replayed, sends to it alone. One Message-ID."""
    to = ["ada@example.org", "busy@example.org", "gone@example.org"]
    port = free_port()
    refusing = ScriptedHandler(
        reject_recipients=["gone@example.org"], defer_recipients={"busy@example.org": 1}
    )
    with email_worker(env, port):
        with start_smtp_server(refusing, port=port) as smtp:
            [sent] = add_emails(env, email(to=to, idempotency_key="news-7"))
            outcome = results.AsyncResult(sent["task_id"]).get(timeout=30)
            first_server = wait_for_messages(smtp, 2)
        [letter] = await store.list_dead_letters(task_name=SEND_TASK)
        with start_smtp_server(port=port) as smtp:
            replayed = replay(env, letter.id)
            results.AsyncResult(replayed).get(timeout=30)
            second_server = wait_for_messages(smtp, 1)
    assert outcome == {
        "message_id": sent["message_id"],
        "accepted": ["ada@example.org"],
        "refused": {"busy@example.org": 450, "gone@example.org": 550},
        "retrying": ["busy@example.org"],
        "dead_lettered": ["gone@example.org"],
    }
    assert [list(r.rcpt_tos) for r in first_server + second_server] == [[a] for a in to]
    assert {r.message["Message-ID"] for r in first_server + second_server} == {sent["message_id"]}
    assert (letter.reason, letter.kwargs["to"]) == ("recipients_rejected", ["gone@example.org"])
