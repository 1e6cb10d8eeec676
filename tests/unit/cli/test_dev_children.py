"""The children of ``outlast dev``: stopped warm when they listen, killed (group and all)
when they do not, and reaped, so no process of their group is left."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _dev_process import group_gone, process_gone
from outlast.cli._children import Child, start_child, stop_children

# Ignores SIGTERM and starts a grandchild in its group that ignores it too, like a stuck pool.
_STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print("started", flush=True)
time.sleep(60)
"""
_POLITE = "import time; print('started', flush=True); time.sleep(60)"


def _start(tmp_path: Path, name: str, code: str) -> Child:
    child = start_child(
        name,
        [sys.executable, "-c", code],
        env={},
        log_path=tmp_path / f"{name}.log",
        ready=lambda c: "started" in c.log(),
    )
    deadline = time.monotonic() + 10
    while not child.is_ready():
        assert time.monotonic() < deadline, child.log()
        time.sleep(0.02)
    return child


def _group_gone_soon(pgid: int) -> bool:
    deadline = time.monotonic() + 5
    while not group_gone(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return group_gone(pgid)


def test_a_child_that_ignores_sigterm_is_killed_with_its_group_after_the_grace(
    tmp_path: Path,
) -> None:
    """A child and grandchild that ignore SIGTERM are SIGKILLed after the grace, and reaped."""
    child = _start(tmp_path, "stubborn", _STUBBORN)
    started = time.monotonic()
    stop_children([child], grace=0.5)
    assert time.monotonic() - started >= 0.5
    assert child.exit_code == -9
    assert process_gone(child.pid)
    assert _group_gone_soon(child.pid)  # the orphaned grandchild is reaped by init


def test_children_that_stop_on_sigterm_are_not_kept_waiting(tmp_path: Path) -> None:
    """Children that end on SIGTERM are stopped at once, well inside the grace."""
    children = [_start(tmp_path, f"polite{n}", _POLITE) for n in range(2)]
    started = time.monotonic()
    stop_children(children, grace=20)
    assert time.monotonic() - started < 5
    assert [c.exit_code for c in children] == [-15, -15]
    assert all(group_gone(c.pid) for c in children)
