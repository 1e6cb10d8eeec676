"""Several workers share OUTLAST_METRICS_DIR: a subdirectory each, gone ones pruned, and
one exposition over all of them."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from _forked import finish
from _metrics_state import fresh_metrics
from outlast.config import reload_settings
from outlast.monitoring import metrics
from outlast.resilience._events import BreakerTransition, CallFailed, publish

pytestmark = pytest.mark.usefixtures("fresh_metrics")
__all__ = ["fresh_metrics"]


def dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout)


def test_instance_dirs_are_named_after_the_node_safely(tmp_path: Path) -> None:
    """A node name becomes one path component; separators and dots cannot climb out."""
    assert metrics.instance_dir(tmp_path, "celery@host-1") == tmp_path / "celery@host-1"
    assert metrics.instance_dir(tmp_path, "../../etc/x y") == tmp_path / "_.._etc_x_y"
    assert metrics.instance_dir(tmp_path, "..").parent == tmp_path


def test_prune_keeps_directories_of_running_processes_only(tmp_path: Path) -> None:
    """A subdirectory whose owner runs is kept; one whose every writer is gone is removed."""
    running = metrics.instance_dir(tmp_path, "alive@host")
    metrics.prepare(running)  # owned by this (running) process
    gone = tmp_path / "gone@host"
    gone.mkdir()
    (gone / f"counter_{dead_pid()}.db").write_bytes(b"")
    (gone / metrics.OWNER_FILE).write_text(f"{dead_pid()}\n")
    assert metrics.prune_instances(tmp_path) == [gone]
    assert running.is_dir()
    assert not gone.exists()


def _count_in(directory: Path, failures: int) -> Callable[[], None]:
    def work() -> None:
        metrics.activate(directory)  # as a worker's parent does before forking its pool
        for _ in range(failures):
            publish(CallFailed("op", ConnectionError("down"), 1))
        publish(BreakerTransition("db", "closed", "open"))

    return work


def test_one_exposition_adds_up_every_worker_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts written under two workers' subdirectories add up in one exposition."""
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(tmp_path))
    reload_settings()
    metrics.listen()
    for node, failures in (("a@host", 2), ("b@host", 5)):
        directory = metrics.instance_dir(tmp_path, node)
        directory.mkdir()
        child = multiprocessing.get_context("fork").Process(target=_count_in(directory, failures))
        child.start()
        assert finish(child, 10) == 0
    assert len(metrics.metric_files(tmp_path)) >= 4
    text = metrics.exposition(alerts=False, sweep=False)[0].decode()
    totals = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("outlast_errors_total", "outlast_circuit_breaker_transitions_total")
    }
    assert totals == {
        "outlast_errors_total": 7.0,
        "outlast_circuit_breaker_transitions_total": 2.0,
    }
    assert os.environ.get(metrics.ENV_VARIABLE) is None  # only the children switched
