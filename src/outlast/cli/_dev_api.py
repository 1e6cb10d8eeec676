"""The health API as a child of ``outlast dev``: on loopback, with a token for the session.

``outlast dev`` runs ``outlast api --host 127.0.0.1 --port PORT``, PORT being
``OUTLAST_API_PORT`` when it is set and a free port otherwise (so two sessions, or a test
run beside one, never fight over 8000). The free port is chosen just before the API
starts, below the kernel's ephemeral range: a port there is never handed out to another
process asking for any free port (as the embedded Redis does) nor taken by an outgoing
connection in the second the API needs to bind it. The API listens on loopback alone
whatever ``OUTLAST_API_HOST`` says: it is the developer's.

The report needs a token. When ``OUTLAST_ADMIN_TOKENS`` is set its tokens serve and none is
shown. Otherwise a random admin token named ``dev`` is made for the session, handed to the
API child alone (in its environment, never on a command line) and printed, so a newcomer
can curl the report at once. That printed token is the one deliberate exception to
"tokens are never printed or logged": it lives only as long as the session, on a loopback
API, and is shown only on the terminal of the developer who started it.
"""

from __future__ import annotations

import random
import secrets
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from outlast.cli._api import require_api
from outlast.cli._children import Child
from outlast.config._api import ApiSettings, get_api_settings
from outlast.errors import ConfigurationError

__all__ = ["REPORT_PATH", "DevApi", "plan_api"]

HOST = "127.0.0.1"
REPORT_PATH = "/family/health/error-handling"
_TOKEN_NAME = "dev"
_PROBE_TIMEOUT = 0.5
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10000
_PORT_TRIES = 50


@dataclass(frozen=True)
class DevApi:
    """Where the session's API listens (0: a free port, not chosen yet) and the token made
    for it (None: the configured ``OUTLAST_ADMIN_TOKENS`` serve, and are not shown)."""

    port: int
    session_token: str | None

    def on_a_port(self) -> DevApi:
        """This API with its port chosen: the configured one, else a free one now."""
        return self if self.port else replace(self, port=_free_port())

    @property
    def url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    def argv(self) -> list[str]:
        """The child's command: ``outlast api`` on loopback and this port."""
        return [
            sys.executable,
            "-m",
            "outlast.cli",
            "api",
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]

    def env(self) -> dict[str, str]:
        """What the API child's environment gets on top of the others' (the session token)."""
        if self.session_token is None:
            return {}
        return {"OUTLAST_ADMIN_TOKENS": f"{_TOKEN_NAME}={self.session_token}"}

    def ready(self) -> Callable[[Child], bool]:
        """A readiness check: ``GET /health/live`` answers 200."""
        return lambda _: _answers(f"{self.url}/health/live")

    def where(self) -> str:
        """What the start line says after the name."""
        return f"{self.url}/ (token: see below)  "

    def usage(self) -> list[str]:
        """The lines printed once everything is ready: which URLs need a token, and which."""
        token = self.session_token or "$TOKEN"
        lines = [
            f"api: no token needed: {self.url}/health/live and {self.url}/health/ready",
            f"api: a token needed: {self.url}{REPORT_PATH}, {self.url}/metrics and "
            f"{self.url}/admin/... (OpenAPI page: {self.url}/docs)",
        ]
        if self.session_token is None:
            lines.append("api: token: one of OUTLAST_ADMIN_TOKENS or OUTLAST_READ_TOKENS")
        else:
            lines.append(
                f"api: admin token made for this session (shown here only): {self.session_token}"
            )
        lines.append(f'api: try  curl -H "Authorization: Bearer {token}" {self.url}{REPORT_PATH}')
        return lines


def plan_api(settings: ApiSettings | None = None) -> DevApi:
    """The session's API: its port and token; ConfigurationError if FastAPI or uvicorn is
    missing or a configured token list is malformed (before anything has started)."""
    require_api()
    settings = settings or get_api_settings()
    try:
        tokens = settings.tokens()
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    port = settings.api_port if "api_port" in settings.model_fields_set else 0
    configured = any(token.role == "admin" for token in tokens)
    token = None if configured else secrets.token_urlsafe(24)
    return DevApi(port=port, session_token=token)


def _free_port() -> int:
    """A port nothing listens on, below the ephemeral range when one can be found there,
    else one the kernel hands out."""
    below = _ephemeral_start()
    if below > _LOWEST_PORT:
        for port in random.sample(range(_LOWEST_PORT, below), _PORT_TRIES):
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (0 when it cannot be read)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
