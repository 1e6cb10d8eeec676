"""A payment gateway for tests: a real HTTP server on 127.0.0.1 that keeps a ledger.

``POST /charges`` with an ``Idempotency-Key`` header and a JSON body charges that key at
most once, like real gateways: the first successful request makes the charge (201), and a
repeated key with the same body gets the stored charge back (200); the same key with a
different body is a 422. Every request is recorded (key, body, arrival time, answer).

It can be told, for every key or for one key, to fail the first ``k`` requests with a
status (503, 429 with a Retry-After, 402...) and to hold the first ``n`` successful
requests open: a held request is charged on arrival and its answer waits until
``release()`` (or ``stop()``), so a test can kill the worker that is waiting for it. Time
is read from this process's monotonic clock; the server runs in a thread of the test
process and ``stop()`` ends it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Charge", "GatewayRequest", "PaymentGateway"]

_HOST = "127.0.0.1"
_MAX_HOLD = 60.0


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """One request as the gateway saw it: ``status`` is the answer it decided on."""

    key: str | None
    body: Any
    at: float
    status: int
    held: bool = False


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge the gateway made: the body it answers with, and the request that made it."""

    key: str
    answer: dict[str, Any]
    request_body: Any


@dataclass(frozen=True, slots=True)
class _Rule:
    failures: int = 0
    status: int = 503
    retry_after: str | None = None
    holds: int = 0


class PaymentGateway:
    """The gateway: ``start()``, point the workers at ``url``, read the ledger, ``stop()``."""

    def __init__(self, *, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._release = threading.Event()  # replaced by a fresh one at each release()
        self._stopped = False
        self._default = _Rule()
        self._rules: dict[str, _Rule] = {}
        self._requests: list[GatewayRequest] = []
        self._charges: dict[str, Charge] = {}
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (``OUTLAST_PAYMENT_GATEWAY_URL``); charges go to ``{url}/charges``."""
        return f"http://{_HOST}:{self.port}"

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for until it has started)."""
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    # -- scripting ----------------------------------------------------------------

    def fail_first(
        self,
        times: int,
        *,
        status: int = 503,
        retry_after: str | None = None,
        key: str | None = None,
    ) -> None:
        """Answer the first ``times`` requests of each key (or of ``key``) with ``status``."""
        self._set(key, failures=times, status=status, retry_after=retry_after)

    def hold_first(self, times: int = 1, *, key: str | None = None) -> None:
        """Hold the answers of the first ``times`` 2xx answers per key (the charge is made)."""
        self._set(key, holds=times)

    def release(self) -> None:
        """Answer every request held so far (later ones are held again, as scripted)."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    def _set(self, key: str | None, **changes: Any) -> None:
        with self._lock:
            rule = self._rules.get(key, self._default) if key else self._default
            updated = dataclasses.replace(rule, **changes)
            if key is None:
                self._default = updated
            else:
                self._rules[key] = updated

    # -- the ledger ---------------------------------------------------------------

    def requests(self, key: str | None = None) -> list[GatewayRequest]:
        """Every request so far (of ``key``, if given), in arrival order."""
        with self._lock:
            return [r for r in self._requests if key is None or r.key == key]

    def charges(self) -> dict[str, Charge]:
        """Every charge made so far, by idempotency key."""
        with self._lock:
            return dict(self._charges)

    def held(self) -> list[GatewayRequest]:
        """The requests whose answers were held."""
        return [r for r in self.requests() if r.held]

    def wait_for_held(self, count: int, *, timeout: float) -> bool:
        """Wait until at least ``count`` answers have been held (True), or ``timeout`` s."""
        return self.wait_until(lambda: len(self.held()) >= count, timeout=timeout)

    def wait_until(self, condition: Callable[[], bool], *, timeout: float) -> bool:
        """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # -- serving ------------------------------------------------------------------

    def answer(
        self, key: str | None, raw: bytes
    ) -> tuple[int, dict[str, str], Any, threading.Event | None]:
        """Decide the answer to one request and record it: status, headers, body, and the
        event to wait for before answering when the answer is held."""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            status, headers, answer, held = self._decide(key, body)
            self._requests.append(GatewayRequest(key, body, time.monotonic(), status, held))
            return status, headers, answer, self._release if held else None

    def _decide(self, key: str | None, body: Any) -> tuple[int, dict[str, str], Any, bool]:
        if not key:
            return 400, {}, {"error": "missing Idempotency-Key"}, False
        rule = self._rules.get(key, self._default)
        seen = [r for r in self._requests if r.key == key]
        if len(seen) < rule.failures:
            headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
            return rule.status, headers, {"error": f"scripted {rule.status}"}, False
        existing = self._charges.get(key)
        if existing is not None and existing.request_body != body:
            return 422, {}, {"error": "Idempotency-Key reused with a different body"}, False
        successes = sum(1 for r in seen if 200 <= r.status < 300)
        held = successes < rule.holds and not self._stopped
        if existing is not None:
            return 200, {}, existing.answer, held
        answer = {"id": f"ch_{next(self._ids)}", "status": "succeeded", "request": body}
        self._charges[key] = Charge(key=key, answer=answer, request_body=body)
        return 201, {}, answer, held

    def start(self) -> PaymentGateway:
        """Listen on 127.0.0.1 (the given port, else a free one) in a background thread."""
        server = _Server((_HOST, self._port), _Handler)
        server.gateway = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Answer held requests, stop serving, close the socket and join the thread."""
        with self._lock:
            self._stopped = True
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> PaymentGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    gateway: PaymentGateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/charges":
            self._send(404, {}, {"error": f"no route {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        gateway = self.server.gateway
        status, headers, answer, release = gateway.answer(self.headers.get("Idempotency-Key"), raw)
        if release is not None:
            release.wait(_MAX_HOLD)
        # The client may be gone (a killed worker): its answer is simply lost.
        with contextlib.suppress(OSError):
            self._send(status, headers, answer)

    def _send(self, status: int, headers: dict[str, str], answer: Any) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the ledger is the record."""
