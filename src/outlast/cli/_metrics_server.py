"""``outlast metrics-server``: the worker's Prometheus metrics over HTTP, at ``/metrics``.

Runs beside the workers of a host and serves the files their processes write under
``OUTLAST_METRICS_DIR`` (a subdirectory per worker), added up at each scrape, with
``outlast_active_alerts`` read from the store. It listens on
``OUTLAST_METRICS_ADDRESS``:``OUTLAST_METRICS_PORT`` (loopback and 9808 by default; the
exposition has no login, so bind it off loopback only where the network is trusted), through
prometheus-client's own HTTP server. The health API serves the same exposition at
``/metrics`` (``outlast.monitoring.metrics.exposition``).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from outlast.config import get_metrics_settings
from outlast.errors import ConfigurationError

__all__ = ["add_metrics_server_parser", "run_metrics_server", "start_metrics_server"]


def add_metrics_server_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """The ``metrics-server`` command and its options."""
    server = commands.add_parser(
        "metrics-server",
        help="serve the Prometheus metrics of this host's workers (their OUTLAST_METRICS_DIR) "
        "at http://OUTLAST_METRICS_ADDRESS:OUTLAST_METRICS_PORT/metrics",
    )
    server.add_argument("--address", help="address to listen on (default: the setting)")
    server.add_argument("--port", type=int, help="port to listen on (default: the setting)")


def start_metrics_server(address: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve the exposition on ``address``:``port`` in a thread; ConfigurationError when no
    metrics directory is configured (there would be nothing of the worker's to serve)."""
    from prometheus_client import start_http_server

    from outlast.monitoring.metrics import collection_registry, metrics_dir

    if metrics_dir() is None:
        raise ConfigurationError(
            "outlast metrics-server needs OUTLAST_METRICS_DIR, the directory the workers "
            "write their metrics files to (the same value as theirs)"
        )
    try:
        return start_http_server(port, address, registry=collection_registry())
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {address}:{port}: {error}") from error


def run_metrics_server(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    settings = get_metrics_settings()
    address = args.address or settings.metrics_address
    port = args.port or settings.metrics_port
    server, thread = start_metrics_server(address, port)
    host = f"[{address}]" if ":" in address else address
    print(f"outlast metrics-server: http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0
