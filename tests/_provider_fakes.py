"""Loopback stand-ins for the notification providers, checking requests as the real APIs do.

``start_provider_fake()`` serves, on 127.0.0.1 and a free port, in a thread of its own:

- Slack incoming webhooks, ``POST /services/...``: a JSON object with a non-empty ``text``
  or a ``blocks`` list of typed blocks; answers 200 ``ok`` (400 ``invalid_payload``).
- PagerDuty Events API v2, ``POST /v2/enqueue``: ``routing_key`` of 32 characters,
  ``event_action`` trigger, acknowledge or resolve, ``dedup_key`` (required but for
  trigger, at most 255 characters), and for a trigger ``payload.summary`` (at most 1024),
  ``payload.source`` and ``payload.severity`` (critical, error, warning, info); answers
  202 ``{"status": "success", "dedup_key": ...}`` (400 ``invalid event``).
- Twilio, ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` and ``Calls.json``: basic
  auth as the account (401 otherwise), a form-encoded body with To, From and Body (calls:
  Twiml or Url); answers 201 with the resource as JSON (400 with Twilio's error codes).
- Alertmanager, ``POST /api/v2/alerts``: a JSON list of alerts, each with non-empty string
  labels, and RFC 3339 ``startsAt``/``endsAt`` when present; answers 200 (400 otherwise).

Every request is kept in ``received`` (with what was wrong with it in ``problems``, if
anything); ``script(kind, (status, headers), ...)`` makes the next requests of a kind get
those answers instead (a 429 with Retry-After, a 500).
"""

from __future__ import annotations

import base64
import collections
import datetime
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from _servers import free_port

__all__ = ["ProviderFake", "Received", "start_provider_fake"]

HOST = "127.0.0.1"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-token"
ROUTING_KEY = "R0123456789abcdefghijklmnopqrstu"
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Received:
    """One request: which API, its path, headers, parsed body, and what was wrong."""

    kind: str
    path: str
    headers: Mapping[str, str]
    body: Any
    problems: tuple[str, ...]
    at: float = field(default_factory=time.monotonic)


class ProviderFake:
    """The server; see the module doc."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[Received] = []
        self._scripts: dict[str, collections.deque[tuple[int, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((HOST, port), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def of(self, kind: str) -> list[Received]:
        """The requests of one API (slack, pagerduty, twilio-sms, twilio-call, alertmanager)."""
        with self._lock:
            return [r for r in self.received if r.kind == kind]

    def script(self, kind: str, *answers: tuple[int, dict[str, str]]) -> None:
        """The next requests of ``kind`` get ``answers`` (status, headers), in order."""
        with self._lock:
            self._scripts.setdefault(kind, collections.deque()).extend(answers)

    def wait_for(self, kind: str, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests of ``kind`` arrived; those requests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of(kind)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.of(kind))} {kind} requests arrived, wanted {count}")

    def start(self) -> ProviderFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ProviderFake:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_scripted(self, kind: str) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            queue = self._scripts.get(kind)
            return queue.popleft() if queue else None

    def _keep(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)


def start_provider_fake() -> ProviderFake:
    """A running fake on a free port of 127.0.0.1."""
    return ProviderFake(free_port()).start()


def _handler(fake: ProviderFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
            return

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            kind, body, problems, status, answer = _judge(self.path, dict(self.headers), raw)
            fake._keep(Received(kind, self.path, dict(self.headers), body, tuple(problems)))
            scripted = fake._next_scripted(kind) if not problems else None
            headers: dict[str, str] = {}
            if scripted is not None:
                status, headers = scripted
                answer = json.dumps({"message": "scripted", "status": status}).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("Content-Type", "application/json" if kind != "slack" else "text/html")
            self.end_headers()
            self.wfile.write(answer)

    return Handler


def _judge(
    path: str, headers: Mapping[str, str], raw: bytes
) -> tuple[str, Any, list[str], int, bytes]:
    """Which API, the parsed body, what is wrong, and the answer (status, body)."""
    if path.startswith("/services/"):
        return ("slack", *_slack(headers, raw))
    if path == "/v2/enqueue":
        return ("pagerduty", *_pagerduty(headers, raw))
    if path == "/api/v2/alerts":
        return ("alertmanager", *_alertmanager(headers, raw))
    prefix = f"/2010-04-01/Accounts/{TWILIO_SID}/"
    if path in (prefix + "Messages.json", prefix + "Calls.json"):
        call = path.endswith("Calls.json")
        return ("twilio-call" if call else "twilio-sms", *_twilio(headers, raw, call=call))
    return "unknown", raw, [f"no such path {path}"], 404, b'{"message": "not found"}'


def _json(headers: Mapping[str, str], raw: bytes) -> tuple[Any, list[str]]:
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if not content_type.startswith("application/json"):
        return raw, [f"content type {content_type!r} is not JSON"]
    try:
        return json.loads(raw), []
    except ValueError:
        return raw, ["body is not JSON"]


def _slack(headers: Mapping[str, str], raw: bytes) -> tuple[Any, list[str], int, bytes]:
    body, problems = _json(headers, raw)
    if not problems:
        text, blocks = body.get("text"), body.get("blocks")
        if not (isinstance(text, str) and text) and not isinstance(blocks, list):
            problems.append("neither text nor blocks")
        if isinstance(blocks, list) and not all(
            isinstance(b, dict) and "type" in b for b in blocks
        ):
            problems.append("a block without a type")
    return (body, problems, 400, b"invalid_payload") if problems else (body, [], 200, b"ok")


def _pagerduty(headers: Mapping[str, str], raw: bytes) -> tuple[Any, list[str], int, bytes]:
    event, problems = _json(headers, raw)
    if not problems:
        problems = _event_problems(event)
    if problems:
        answer = {"status": "invalid event", "message": "Event object is invalid",
                  "errors": problems}  # fmt: skip
        return event, problems, 400, json.dumps(answer).encode()
    answer = {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}
    return event, [], 202, json.dumps(answer).encode()


def _event_problems(event: Any) -> list[str]:
    problems = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        problems.append("routing_key must be 32 characters")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append(f"event_action {action!r}")
    dedup = event.get("dedup_key")
    if (action != "trigger" and not dedup) or (dedup is not None and len(str(dedup)) > 255):
        problems.append("dedup_key missing or too long")
    if action == "trigger":
        payload = event.get("payload") or {}
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            problems.append("payload.summary")
        if not payload.get("source"):
            problems.append("payload.source")
        if payload.get("severity") not in SEVERITIES:
            problems.append("payload.severity")
    return problems


def _twilio(
    headers: Mapping[str, str], raw: bytes, *, call: bool
) -> tuple[Any, list[str], int, bytes]:
    lower = {k.lower(): v for k, v in headers.items()}
    expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    if lower.get("authorization") != expected:
        answer = {"code": 20003, "message": "Authenticate", "status": 401}
        return form, ["bad basic auth"], 401, json.dumps(answer).encode()
    problems = []
    if not lower.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        problems.append("body is not form-encoded")
    for name in ("To", "From") if call else ("To", "From", "Body"):
        if not form.get(name):
            problems.append(f"{name} is required")
    if call and not (form.get("Twiml") or form.get("Url")):
        problems.append("Twiml or Url is required")
    if problems:
        answer = {"code": 21604, "message": "; ".join(problems), "status": 400}
        return form, problems, 400, json.dumps(answer).encode()
    prefix = "CA" if call else "SM"
    resource = {"sid": prefix + uuid.uuid4().hex, "account_sid": TWILIO_SID, "to": form["To"],
                "from": form["From"], "status": "queued"}  # fmt: skip
    if not call:
        resource["body"] = form["Body"]
    return form, [], 201, json.dumps(resource).encode()


def _alertmanager(headers: Mapping[str, str], raw: bytes) -> tuple[Any, list[str], int, bytes]:
    alerts, problems = _json(headers, raw)
    if not problems and not isinstance(alerts, list):
        problems.append("body is not a list of alerts")
    for alert in alerts if not problems else []:
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not labels:
            problems.append("an alert without labels")
        elif not all(isinstance(k, str) and isinstance(v, str) and v for k, v in labels.items()):
            problems.append("labels must be non-empty strings")
        for name in ("startsAt", "endsAt"):
            if name in alert and not _rfc3339(alert[name]):
                problems.append(f"{name} is not RFC 3339")
    if problems:
        return alerts, problems, 400, json.dumps({"message": "; ".join(problems)}).encode()
    return alerts, [], 200, b""


def _rfc3339(text: object) -> bool:
    if not isinstance(text, str) or "T" not in text:
        return False
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
