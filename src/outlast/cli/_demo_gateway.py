"""The demo's payment gateway: a real HTTP server on 127.0.0.1 that can be flaky or down.

``POST /charges`` with an ``Idempotency-Key`` charges that key at most once: the first
accepted request makes the charge (201) and a repeat gets the same charge back (200), as
real gateways do. ``set_mode`` scripts it: "up" answers every request; "flaky" answers 503
to the first ``flaky_failures`` requests of each key named in ``flaky_keys``; "down"
answers 503 to everything. Every request is kept in a ledger (key, answer, the mode then),
which is the demo's proof that each payment was charged once (one accepted request each).

It serves from a thread of the demo's process and never charges a key twice; it is a
stand-in for the demo, never something to point real payments at.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["DemoGateway", "GatewayRequest", "Mode"]

_HOST = "127.0.0.1"

Mode = Literal["up", "flaky", "down"]


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """One request as the gateway saw it, and the status it answered."""

    key: str
    status: int
    mode: Mode
    at: float

    @property
    def accepted(self) -> bool:
        """Whether the gateway took this request (2xx): a new charge or a repeat of one."""
        return 200 <= self.status < 300

    @property
    def charged(self) -> bool:
        """Whether this request made a new charge (201), not a repeat of one (200)."""
        return self.status == 201


class DemoGateway:
    """``start()``, point ``OUTLAST_PAYMENT_GATEWAY_URL`` at ``url``, script, ``stop()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: Mode = "up"
        self._flaky_keys: frozenset[str] = frozenset()
        self._flaky_failures = 0
        self._requests: list[GatewayRequest] = []
        self._charges: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL; charges go to ``{url}/charges``."""
        if self._server is None:
            raise RuntimeError("the demo gateway has not started")
        return f"http://{_HOST}:{self._server.server_address[1]}"

    @property
    def mode(self) -> Mode:
        """How it answers now."""
        return self._mode

    def set_mode(
        self, mode: Mode, *, flaky_keys: Collection[str] = (), flaky_failures: int = 0
    ) -> None:
        """Answer from now on as ``mode`` says (see the module's docstring)."""
        with self._lock:
            self._mode = mode
            self._flaky_keys, self._flaky_failures = frozenset(flaky_keys), flaky_failures

    def requests(self) -> list[GatewayRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def accepted_per_key(self) -> Counter[str]:
        """How many requests of each key the gateway took (2xx). Its idempotency key keeps a
        repeat from charging again, but a repeat means the charge ran twice: 1 each is
        exactly once."""
        return Counter(request.key for request in self.requests() if request.accepted)

    def answer(self, key: str | None) -> tuple[int, dict[str, Any]]:
        """Decide and record the answer to one charge request for ``key``."""
        if not key:
            return 400, {"error": "missing Idempotency-Key"}
        with self._lock:
            status = self._status(key)
            at = time.monotonic()
            self._requests.append(GatewayRequest(key=key, status=status, mode=self._mode, at=at))
            if status == 201:
                self._charges[key] = f"ch_{len(self._charges) + 1}"
            if status >= 500:
                return status, {"error": f"gateway {self._mode}"}
            return status, {"id": self._charges[key], "status": "succeeded"}

    def _status(self, key: str) -> int:
        if self._mode == "down":
            return 503
        if self._mode == "flaky" and key in self._flaky_keys:
            failed = sum(1 for r in self._requests if r.key == key and r.status >= 500)
            if failed < self._flaky_failures:
                return 503
        return 200 if key in self._charges else 201

    def start(self) -> DemoGateway:
        """Listen on a free 127.0.0.1 port, serving from a background thread."""
        server = _Server((_HOST, 0), _Handler)
        server.gateway = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="demo-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: DemoGateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/charges":
            self._send(404, {"error": f"no route {self.path}"})
            return
        status, body = self.server.gateway.answer(self.headers.get("Idempotency-Key"))
        with contextlib.suppress(OSError):  # the worker may have gone meanwhile
            self._send(status, body)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the ledger is the record."""
