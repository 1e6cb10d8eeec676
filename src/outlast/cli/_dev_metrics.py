"""The metrics directory of an ``outlast dev`` session, so the API's ``/metrics`` shows the
workers' metrics.

Workers keep their Prometheus samples in files under ``OUTLAST_METRICS_DIR`` (a
subdirectory each), and the API adds up every file there at each scrape. When neither it nor
``PROMETHEUS_MULTIPROC_DIR`` is configured, ``outlast dev`` makes a temporary directory for
the session, gives it to every child, and removes it when the session ends; a configured
directory is used as it is and left in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from outlast.config import get_metrics_settings

__all__ = ["SessionMetrics", "session_metrics"]

_VARIABLE = "OUTLAST_METRICS_DIR"


@dataclass(frozen=True)
class SessionMetrics:
    """The directory the children write metrics to, and whether this session made it."""

    directory: Path
    made_here: bool

    def env(self) -> dict[str, str]:
        """What every child's environment gets (nothing when the directory is configured)."""
        return {_VARIABLE: str(self.directory)} if self.made_here else {}

    def describe(self) -> str:
        """What the start line says of it."""
        if self.made_here:
            return f"{self.directory} (made for this session, removed at exit)"
        return f"{self.directory} (configured; left in place)"

    def remove(self) -> None:
        """Remove the directory if this session made it."""
        if self.made_here:
            shutil.rmtree(self.directory, ignore_errors=True)


def session_metrics() -> SessionMetrics:
    """The configured metrics directory, else a new temporary one."""
    configured = get_metrics_settings().metrics_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        return SessionMetrics(Path(configured), made_here=False)
    return SessionMetrics(Path(tempfile.mkdtemp(prefix="outlast-dev-metrics-")), made_here=True)
