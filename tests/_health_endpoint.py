"""A health endpoint for recovery tests: a loopback HTTP server whose ``GET /health``
answers the status a test sets, and whose ``POST /restart`` (a restart webhook) counts
its calls and answers ``restart_status``. It imports nothing from ``outlast``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["HealthEndpoint"]


class HealthEndpoint:
    """A loopback HTTP server whose ``GET /health`` answers ``status`` (200 until changed)."""

    def __init__(self) -> None:
        self.status = 200
        self.restart_status = 202
        self.restarts = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = endpoint.status if self.path == "/health" else 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                code = 404
                if self.path == "/restart":
                    endpoint.restarts += 1
                    code = endpoint.restart_status
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/health"
        self.restart_url = f"http://127.0.0.1:{self.port}/restart"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HealthEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
