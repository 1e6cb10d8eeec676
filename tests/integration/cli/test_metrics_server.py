"""``outlast metrics-server`` serves the worker's metrics files over real HTTP, and refuses
to start without a metrics directory."""

from __future__ import annotations

import multiprocessing
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from _metrics_state import fresh_metrics
from _servers import free_port
from outlast.cli._metrics_server import start_metrics_server
from outlast.config import reload_settings
from outlast.errors import ConfigurationError
from outlast.monitoring import metrics
from outlast.resilience._events import CallFailed, publish

pytestmark = pytest.mark.usefixtures("fresh_metrics")
__all__ = ["fresh_metrics"]


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
    child.join(10)
    assert child.exitcode == 0
    port = free_port()
    server, _ = start_metrics_server("127.0.0.1", port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            content_type = response.headers["Content-Type"]
            text = response.read().decode()
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
