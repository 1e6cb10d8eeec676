"""``outlast api``: the health API (``outlast.api:app``) served by uvicorn in this process.

The address and port come from ``--host``/``--port``, else ``OUTLAST_API_HOST`` and
``OUTLAST_API_PORT``. The token lists are checked before serving: a malformed entry ends
the command with one line naming the variable and the entry's position (never its text).
FastAPI and uvicorn are the optional extra ``api``; without them the command says how to
install it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from outlast.config._api import ApiSettings, get_api_settings
from outlast.errors import ConfigurationError

__all__ = ["add_api_parser", "require_api", "run_api"]


def add_api_parser(commands: Any) -> None:
    """Register ``outlast api [--host H] [--port P]`` on the CLI's subcommands."""
    api = commands.add_parser(
        "api",
        help="serve the health API and admin endpoints (outlast.api:app) through uvicorn; "
        "tokens from OUTLAST_ADMIN_TOKENS / OUTLAST_READ_TOKENS",
    )
    api.add_argument("--host", help="address to listen on (default: OUTLAST_API_HOST, 127.0.0.1)")
    api.add_argument(
        "--port", type=_port, help="port to listen on (default: OUTLAST_API_PORT, 8000)"
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return port


def require_api() -> None:
    """ConfigurationError, saying how to install them, when FastAPI or uvicorn is missing."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"outlast api needs {' and '.join(missing)}, not installed; "
            'install the api extra: pip install "outlast[api]"'
        )


def checked_settings() -> ApiSettings:
    """The API settings with their token lists parsed (ConfigurationError if malformed)."""
    settings = get_api_settings()
    try:
        tokens = settings.tokens()
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    if not tokens:
        print(
            "outlast api: no OUTLAST_ADMIN_TOKENS or OUTLAST_READ_TOKENS set; every endpoint "
            "but /health/live and /health/ready refuses every caller",
            file=sys.stderr,
        )
    return settings


def run_api(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    require_api()
    settings = checked_settings()
    import uvicorn

    from outlast.api import app

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    return 0
