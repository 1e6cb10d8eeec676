"""Multiprocess mode: every process of a worker writes its samples to files in one directory.

prometheus-client keeps a process's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` when that variable is set as a metric is created. The worker's
parent calls :func:`prepare` before it forks its pool: the directory is made, emptied of a
previous run's files (their counts would add up with this run's), and the variable set, so
the children inherit it. A child that exits cleanly removes its live gauges
(:func:`mark_dead`); :func:`sweep_dead` removes those of children that were killed.

The directory belongs to one worker instance: two workers sharing it would empty each
other's files at start. Unset, nothing here runs and metrics stay in each process.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Final

from prometheus_client import multiprocess, values

from outlast.config import get_metrics_settings
from outlast.monitoring.metrics._families import reset_families

__all__ = ["ENV_VARIABLE", "activate", "mark_dead", "metrics_dir", "prepare", "sweep_dead"]

log = logging.getLogger("outlast.monitoring")

ENV_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE: Final = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def metrics_dir() -> Path | None:
    """The multiprocess directory: ``OUTLAST_METRICS_DIR``, else ``PROMETHEUS_MULTIPROC_DIR``
    when the environment sets it, else None (single-process mode)."""
    configured = get_metrics_settings().metrics_dir
    if configured is not None:
        return configured
    given = os.environ.get(ENV_VARIABLE)
    return Path(given) if given else None


def prepare(path: Path) -> Path:
    """Make ``path``, remove every metrics file a previous run left in it, and switch this
    process (and the children it forks from now on) to multiprocess mode."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
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


def mark_dead(pid: int, path: Path | None = None) -> None:
    """Remove the live gauges of the process ``pid`` (its counters stay: they were counted)."""
    where = path or metrics_dir()
    if where is not None:
        multiprocess.mark_process_dead(pid, str(where))  # type: ignore[no-untyped-call]


def sweep_dead(path: Path) -> list[int]:
    """Remove the live gauges of every process that no longer runs; the pids removed.

    Only meaningful on the worker's host, in its process namespace (where the files are).
    """
    gone = sorted({pid for pid in _live_gauge_pids(path) if not _running(pid)})
    for pid in gone:
        mark_dead(pid, path)
    return gone


def _live_gauge_pids(path: Path) -> set[int]:
    try:
        names = os.listdir(path)
    except OSError:
        return set()
    return {int(m.group(1)) for m in map(_LIVE_GAUGE_FILE.fullmatch, names) if m is not None}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True
