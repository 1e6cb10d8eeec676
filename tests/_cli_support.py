"""Support for the operators' CLI tests: the settings a command and a worker share, a
command run in its own process, and a worker of ``outlast.workers`` with the CLI test tasks
(``_cli_worker_tasks``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from _workers import TESTS_DIR, WorkerProcess, celery_worker_command, start_worker

__all__ = ["cli_env", "outlast", "outlast_json", "start_cli_worker"]


def cli_env(redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """The settings of the command under test and of its worker."""
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_cli_worker_tasks"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        **extra,
    }


def outlast(
    env: Mapping[str, str], *argv: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``outlast *argv`` in its own process with ``env``; what it printed and its status."""
    return subprocess.run(
        [sys.executable, "-m", "outlast.cli", *argv], env={**os.environ, **env}, input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def outlast_json(env: Mapping[str, str], *argv: str) -> Any:
    """The JSON ``outlast *argv --json`` printed (the command must succeed, silently)."""
    done = outlast(env, *argv, "--json")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return json.loads(done.stdout)


def start_cli_worker(env: Mapping[str, str], queues: list[str], *, name: str) -> WorkerProcess:
    """A solo-pool worker of ``outlast.workers`` consuming ``queues`` (ready when returned)."""
    return start_worker(env, celery_worker_command(queues, pool="solo", name=name))
