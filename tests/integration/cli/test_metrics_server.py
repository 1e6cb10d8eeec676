"""``outlast metrics-server`` serves the worker's metrics files over real HTTP, and refuses
to start without a metrics directory."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from _forked import finish
from _metrics_state import fresh_metrics
from _servers import free_port
from _workers import fresh_namespace
from outlast.cli._metrics_server import start_metrics_server
from outlast.config import reload_settings
from outlast.errors import ConfigurationError
from outlast.monitoring import metrics
from outlast.resilience._events import CallFailed, publish

pytestmark = pytest.mark.usefixtures("fresh_metrics")
__all__ = ["fresh_metrics"]


def get(url: str) -> tuple[str, str]:
    """The content type and text of a GET of ``url``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def _fail_twice() -> None:
    publish(CallFailed("op", TimeoutError("slow"), 1))
    publish(CallFailed("op", TimeoutError("slow"), 2))


def test_serves_the_files_of_other_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET of /metrics returns what a forked process counted, parsed by Prometheus's parser."""
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(tmp_path))
    reload_settings()
    metrics.prepare(tmp_path)
    metrics.listen()
    child = multiprocessing.get_context("fork").Process(target=_fail_twice)
    child.start()
    finish(child, 10)
    assert child.exitcode == 0
    port = free_port()
    server, _ = start_metrics_server("127.0.0.1", port)
    try:
        content_type, text = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert content_type.startswith("text/plain")
    errors = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "outlast_errors_total"
    }
    assert errors == {(("category", "timeout"), ("error_type", "TimeoutError")): 2.0}


def test_refuses_to_start_without_a_metrics_directory() -> None:
    """Without OUTLAST_METRICS_DIR there is no worker to serve: a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="OUTLAST_METRICS_DIR"):
        start_metrics_server("127.0.0.1", free_port())


def test_the_command_serves_until_terminated(tmp_path: Path, redis_url: str) -> None:
    """``outlast metrics-server --port`` answers /metrics with every family, and SIGTERM ends it."""
    port = free_port()
    with fresh_namespace(redis_url) as namespace:  # the store its alerts are read from
        env = {
            **os.environ, "OUTLAST_METRICS_DIR": str(tmp_path), "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
        }  # fmt: skip
        text, log = serve_and_get(env, port)
    assert "could not be read" not in log  # the alerts came from the store
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {spec.name for spec in (*metrics.FAMILIES, metrics.ACTIVE_ALERTS)} <= names


def serve_and_get(env: dict[str, str], port: int) -> tuple[str, str]:
    """Run the command with ``env``, GET its /metrics once it answers, then SIGTERM it;
    the text it served and what it wrote to stderr."""
    command = [sys.executable, "-m", "outlast.cli", "metrics-server", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        text = ""
        deadline = time.monotonic() + 30
        while not text and time.monotonic() < deadline:
            try:
                text = get(f"http://127.0.0.1:{port}/metrics")[1]
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
    finally:
        server.terminate()
        log = server.communicate(timeout=15)[1].decode(errors="replace")
    return text, log
