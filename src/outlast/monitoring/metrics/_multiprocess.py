"""Multiprocess mode: every process of a worker writes its samples to files in one directory.

prometheus-client keeps a process's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` when that variable is set as a metric is created. Under the
configured directory (``OUTLAST_METRICS_DIR``) each worker instance gets a subdirectory of
its own, named after its node name (:func:`instance_dir`), so several workers of one host
can share the setting. The worker's parent calls :func:`prepare` on it before it forks its
pool: the subdirectory is made, emptied of the previous run's files (their counts would add
up with this run's) and the variable set, so the children inherit it; subdirectories whose
processes have all gone are removed first (:func:`prune_instances`). A child that exits
cleanly removes its live gauges (:func:`mark_dead`); :func:`sweep_dead` removes those of
children that were killed. The exposition reads every file under the directory
(:func:`metric_files`).

Liveness is judged by pid, so the directory must be on the host's own disk and shared only
by processes of one PID namespace. Unset, nothing here runs and metrics stay in each process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Final

from prometheus_client import multiprocess, values

from outlast.config import get_metrics_settings
from outlast.monitoring.metrics._families import reset_families

__all__ = [
    "ENV_VARIABLE",
    "activate",
    "instance_dir",
    "mark_dead",
    "metric_files",
    "metrics_dir",
    "prepare",
    "prune_instances",
    "sweep_dead",
]


ENV_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
_FILE: Final = re.compile(r"[a-z]+(?:_[a-z]+)?_(\d+)\.db")
_LIVE_GAUGE_FILE: Final = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9@._-]")
OWNER_FILE: Final = "owner.pid"
"""The pid of the process that prepared a directory: it is in use while that one runs."""


def metrics_dir() -> Path | None:
    """The multiprocess directory: ``OUTLAST_METRICS_DIR``, else ``PROMETHEUS_MULTIPROC_DIR``
    when the environment sets it, else None (single-process mode)."""
    configured = get_metrics_settings().metrics_dir
    if configured is not None:
        return configured
    given = os.environ.get(ENV_VARIABLE)
    return Path(given) if given else None


def instance_dir(root: Path, node_name: str) -> Path:
    """The subdirectory of ``root`` for the worker called ``node_name`` (``celery@host``)."""
    return root / (_UNSAFE.sub("_", node_name).lstrip(".") or "worker")


def prepare(path: Path) -> Path:
    """Make ``path``, remove every metrics file a previous run left in it, and switch this
    process (and the children it forks from now on) to multiprocess mode."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    (path / OWNER_FILE).write_text(f"{os.getpid()}\n")
    activate(path)
    return path


def activate(path: Path) -> None:
    """Switch this process to file-backed values in ``path`` (its metrics are built anew)."""
    os.environ[ENV_VARIABLE] = str(path)
    if not getattr(values.ValueClass, "_multiprocess", False):
        # prometheus-client chose in-memory values at import; metrics made from now on
        # take file-backed ones.
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    reset_families()


def prune_instances(root: Path) -> list[Path]:
    """Remove the subdirectories of ``root`` none of whose processes still runs (retired
    or stopped workers); the ones removed."""
    gone = [d for d in _subdirectories(root) if not any(map(_running, _users(d)))]
    for directory in gone:
        shutil.rmtree(directory, ignore_errors=True)
    return gone


def metric_files(root: Path) -> list[str]:
    """Every metrics file in ``root`` and its worker subdirectories."""
    return sorted(str(f) for d in (root, *_subdirectories(root)) for f in d.glob("*.db"))


def mark_dead(pid: int, path: Path | None = None) -> None:
    """Remove the live gauges of the process ``pid`` from ``path`` (default: this process's
    directory); its counters stay: they were counted."""
    given = os.environ.get(ENV_VARIABLE)
    where = path or (Path(given) if given else None)
    if where is not None:
        multiprocess.mark_process_dead(pid, str(where))  # type: ignore[no-untyped-call]


def sweep_dead(root: Path) -> list[int]:
    """Remove the live gauges of every process under ``root`` that no longer runs; the
    pids removed."""
    removed: set[int] = set()
    for directory in (root, *_subdirectories(root)):
        for pid in _pids(directory, _LIVE_GAUGE_FILE):
            if not _running(pid):
                mark_dead(pid, directory)
                removed.add(pid)
    return sorted(removed)


def _subdirectories(root: Path) -> list[Path]:
    try:
        return sorted(entry for entry in root.iterdir() if entry.is_dir())
    except OSError:
        return []


def _users(directory: Path) -> set[int]:
    """The pids that wrote files in ``directory``, and the one that prepared it."""
    users = _pids(directory, _FILE)
    with contextlib.suppress(OSError, ValueError):
        users.add(int((directory / OWNER_FILE).read_text()))
    return users


def _pids(directory: Path, pattern: re.Pattern[str]) -> set[int]:
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    return {int(m.group(1)) for m in map(pattern.fullmatch, names) if m is not None}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True
