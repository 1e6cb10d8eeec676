"""``outlast alerts list|ack|silence|resolve`` against the real store: listed and filtered,
acknowledged by name, silenced by the alert's labels, resolved; an unknown id, a bad
duration and a store that does not answer are one line each."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from _cli_support import outlast, outlast_json
from _servers import free_port
from outlast.errors import ErrorSeverity
from outlast.monitoring._alerting import active_silences
from outlast.store import Alert, AlertStatus, RedisStore


@pytest.fixture
async def store(env: dict[str, str]) -> AsyncIterator[RedisStore]:
    """The store the command reads, holding two active alerts (the warning is newer)."""
    opened = RedisStore(env["OUTLAST_REDIS_URL"], namespace=env["OUTLAST_NAMESPACE"])
    now = time.time()
    for number, (severity, kind, service) in enumerate([
        (ErrorSeverity.CRITICAL, "error_rate", "payments"),
        (ErrorSeverity.MEDIUM, "latency", "emails"),
    ]):  # fmt: skip
        await opened.upsert_alert(Alert(
            id=f"alert-{service}", alert_type=kind, severity=severity, title=f"{service} {kind}",
            message="too high", created_at=now + number, updated_at=now + number,
            labels={"alertname": kind, "service": service},
        ))  # fmt: skip
    yield opened
    await opened.close()


async def test_list_and_filter(env: dict[str, str], store: RedisStore) -> None:
    """Active alerts newest first, filtered by severity or type; a table for people."""
    listed = outlast_json(env, "alerts", "list")
    assert [a["id"] for a in listed] == ["alert-emails", "alert-payments"]
    critical = outlast_json(env, "alerts", "list", "--severity", "critical")
    assert [a["id"] for a in critical] == ["alert-payments"]
    assert [a["id"] for a in outlast_json(env, "alerts", "list", "--type", "latency")] == [
        "alert-emails"
    ]
    text = outlast(env, "alerts", "list", "--limit", "1")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "SEVERITY", "TYPE"]
    assert [line.split()[:3] for line in lines[1:]] == [["alert-emails", "medium", "latency"]]
    assert outlast(env, "alerts", "list", "--resolved").stdout.strip() == "no alerts"


async def test_ack_silence_resolve(env: dict[str, str], store: RedisStore) -> None:
    """Each verb changes the stored alert (or adds the silence) as it says."""
    acked = outlast(env, "alerts", "ack", "alert-payments", "--by", "night-ops")
    assert (acked.returncode, acked.stdout) == (
        0,
        "alert alert-payments: acknowledged by night-ops\n",
    )
    stored = await store.get_alert("alert-payments")
    assert stored is not None
    assert stored.acknowledged_by == "night-ops"

    before = time.time()
    silenced = outlast_json(env, "alerts", "silence", "alert-payments", "--for", "2h",
                            "--comment", "deploying", "--by", "night-ops")  # fmt: skip
    assert silenced["matchers"] == ["alertname=error_rate", "service=payments"]
    (silence,) = await active_silences(store, time.time())
    assert (silence.id, silence.created_by, silence.comment) == (
        silenced["silence_id"], "night-ops", "deploying"
    )  # fmt: skip
    assert before + 7200 <= silence.ends_at <= time.time() + 7200

    resolved = outlast(env, "alerts", "resolve", "alert-payments")
    assert (resolved.returncode, resolved.stdout) == (0, "alert alert-payments: resolved\n")
    stored = await store.get_alert("alert-payments")
    assert stored is not None
    assert stored.status is AlertStatus.RESOLVED
    assert [a["id"] for a in outlast_json(env, "alerts", "list")] == ["alert-emails"]


def test_errors_are_one_line(env: dict[str, str]) -> None:
    """Unknown id: status 1; bad duration: status 2; store down: status 1; one line each."""
    unknown = outlast(env, "alerts", "ack", "alert-nobody")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.splitlines() == [
        "outlast alerts ack: no alert 'alert-nobody' (see outlast alerts list)"
    ]
    bad = outlast(env, "alerts", "silence", "alert-payments", "--for", "5y")
    assert bad.returncode == 2
    assert len(bad.stderr.splitlines()) == 1
    assert "'5y' is not a duration" in bad.stderr
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_REDIS_URL": down}, "alerts", "list")
    assert (done.returncode, done.stdout) == (1, "")
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"outlast alerts list: the store does not answer: redis store at {down}")
