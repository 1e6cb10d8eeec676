"""Maintenance tasks: a ping that proves a worker consumes and answers."""

from __future__ import annotations

import os
import socket
from typing import Any

from outlast.workers import app

__all__ = ["ping"]


@app.task(name="outlast.maintenance.ping")
def ping() -> dict[str, Any]:
    """Answer with this worker process's host and pid (a liveness probe that runs a task)."""
    return {"pong": True, "host": socket.gethostname(), "pid": os.getpid()}
