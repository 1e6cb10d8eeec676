"""The exposition: every family with HELP and TYPE, alerts counted when collected, and the
files of several processes added up in multiprocess mode."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from _forked import finish
from _metrics_state import fresh_metrics
from outlast.config import reload_settings
from outlast.errors import ErrorSeverity
from outlast.monitoring import metrics
from outlast.resilience._events import BreakerTransition, CallFailed, publish
from outlast.store import Alert

pytestmark = pytest.mark.usefixtures("fresh_metrics")
__all__ = ["fresh_metrics"]

EVERY_FAMILY = {spec.name: spec.kind for spec in (*metrics.FAMILIES, metrics.ACTIVE_ALERTS)}


def parsed(text: str) -> dict[str, dict[str, float]]:
    """Each family's samples as ``{sample name + labels: value}``, by family name."""
    return {
        family.name: {f"{s.name}{sorted(s.labels.items())}": s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
    }


def total(text: str, sample_name: str) -> float:
    """The sum of every sample called ``sample_name``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample_name
    )


def alert(alert_id: str, alert_type: str, severity: ErrorSeverity) -> Alert:
    """An active alert as the store would return it."""
    return Alert(
        id=alert_id, alert_type=alert_type, severity=severity, title="t", message="m",
        created_at=1.0, updated_at=1.0,
    )  # fmt: skip


def test_every_family_has_help_and_type_before_any_sample() -> None:
    """A fresh process announces every family, with HELP and TYPE, and nothing else."""
    body, content_type = metrics.exposition(read_alerts=list)
    text = body.decode()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {name: f.type for name, f in families.items()} == EVERY_FAMILY
    for name, kind in EVERY_FAMILY.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert f"# HELP {exposed} " in text
        assert f"# TYPE {exposed} {kind}\n" in text


def test_active_alerts_are_counted_by_type_and_severity_when_collected() -> None:
    """The gauge reads the alerts at each collection and counts them by type and severity."""
    alerts = [
        alert("a", "error_rate_high", ErrorSeverity.HIGH),
        alert("b", "error_rate_high", ErrorSeverity.HIGH),
        alert("c", "security_concern", ErrorSeverity.CRITICAL),
    ]
    text = metrics.exposition(read_alerts=lambda: alerts)[0].decode()
    assert parsed(text)["outlast_active_alerts"] == {
        "outlast_active_alerts[('alert_type', 'error_rate_high'), ('severity', 'high')]": 2.0,
        "outlast_active_alerts[('alert_type', 'security_concern'), ('severity', 'critical')]": 1.0,
    }
    alerts.clear()
    assert (
        parsed(metrics.exposition(read_alerts=lambda: alerts)[0].decode())["outlast_active_alerts"]
        == {}
    )


def test_an_unreadable_store_leaves_the_alerts_family_empty() -> None:
    """A store that raises still gives a whole exposition; only the alert samples are missing."""

    def store_down() -> list[Alert]:
        raise ConnectionError("store down")

    text = metrics.exposition(read_alerts=store_down)[0].decode()
    assert parsed(text)["outlast_active_alerts"] == {}
    assert "# TYPE outlast_active_alerts gauge" in text


def test_metrics_dir_prefers_the_setting_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OUTLAST_METRICS_DIR wins; PROMETHEUS_MULTIPROC_DIR alone is used; neither means None."""
    assert metrics.metrics_dir() is None
    monkeypatch.setenv(metrics.ENV_VARIABLE, str(tmp_path / "env"))
    assert metrics.metrics_dir() == tmp_path / "env"
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(tmp_path / "setting"))
    reload_settings()
    assert metrics.metrics_dir() == tmp_path / "setting"


def _in_child(work: Callable[[], None]) -> multiprocessing.process.BaseProcess:
    """Run ``work`` in a forked child, as a prefork pool does, and wait for it."""
    child = multiprocessing.get_context("fork").Process(target=work)
    child.start()
    assert finish(child, 10) == 0
    return child


def _fail_and_trip(breaker: str, failures: int) -> Callable[[], None]:
    def work() -> None:
        for _ in range(failures):
            publish(CallFailed("op", ConnectionError("down"), 1))
        publish(BreakerTransition(breaker, "closed", "open"))

    return work


def test_multiprocess_files_of_every_child_add_up(tmp_path: Path) -> None:
    """Counters of two forked children add up; the state gauge is the worst live one; a
    child marked dead drops its gauge and keeps its counts; stale files are removed."""
    (tmp_path / "counter_999999.db").write_bytes(b"stale")
    metrics.prepare(tmp_path)
    assert not (tmp_path / "counter_999999.db").exists()
    assert os.environ[metrics.ENV_VARIABLE] == str(tmp_path)
    metrics.listen()
    first = _in_child(_fail_and_trip("db", 2))
    second = _in_child(_fail_and_trip("db", 3))
    text = metrics.exposition(alerts=False, sweep=False)[0].decode()
    assert total(text, "outlast_errors_total") == 5.0
    assert total(text, "outlast_circuit_breaker_transitions_total") == 2.0
    assert parsed(text)["outlast_circuit_breaker_state"] == {
        "outlast_circuit_breaker_state[('breaker', 'db')]": 2.0
    }
    for child in (first, second):
        assert child.pid is not None
        metrics.mark_dead(child.pid)
    text = metrics.exposition(alerts=False, sweep=False)[0].decode()
    assert parsed(text)["outlast_circuit_breaker_state"] == {}
    assert total(text, "outlast_errors_total") == 5.0


def test_sweep_removes_the_live_gauges_of_a_killed_child(tmp_path: Path) -> None:
    """A child killed without marking itself dead loses its live gauges at the next sweep."""
    metrics.prepare(tmp_path)
    metrics.listen()
    ready, release = multiprocessing.get_context("fork").Pipe()

    def work() -> None:
        publish(BreakerTransition("cache", "closed", "open"))
        release.send("set")
        signal.pause()

    child = multiprocessing.get_context("fork").Process(target=work)
    child.start()
    if not ready.poll(10):
        finish(child, 0)
        raise AssertionError("the child never said it was ready")
    assert child.pid is not None
    assert metrics.sweep_dead(tmp_path) == []  # still running: kept
    os.kill(child.pid, signal.SIGKILL)
    finish(child, 10)
    text = metrics.exposition(alerts=False)[0].decode()  # sweeps
    assert parsed(text)["outlast_circuit_breaker_state"] == {}
    assert total(text, "outlast_circuit_breaker_transitions_total") == 1.0
