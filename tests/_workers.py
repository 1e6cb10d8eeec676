"""Real Celery worker processes for tests.

``start_worker()`` launches ``celery -A outlast.workers worker`` (or any command line) in
its own process group with the given environment, waits until its log says it is ready,
and ``.stop()`` ends the whole group by process-group id (warm shutdown first, then
SIGKILL), so no pool child outlives a test. ``.kill()`` is the SIGKILL a crash test needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from _servers import delete_keys_with_prefix

__all__ = [
    "WorkerProcess",
    "celery_worker_command",
    "enqueue_from_app",
    "fresh_namespace",
    "start_worker",
]

TESTS_DIR = Path(__file__).resolve().parent

_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0


class WorkerProcess:
    """A running worker: its process (group) id and its log file."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.pid = process.pid
        self.log_path = log_path

    def log(self) -> str:
        """Everything the worker has logged so far."""
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Block until the worker logs that it is ready; fail with its log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if not self.running:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (a crash)."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=_STOP_TIMEOUT)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL whatever is left of the group; reap the process."""
        if self.running:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=_STOP_TIMEOUT)
        self._signal_group(signal.SIGKILL)
        if self.running:
            self.process.wait(timeout=_STOP_TIMEOUT)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def celery_worker_command(
    queues: Sequence[str], *, concurrency: int = 1, pool: str = "prefork", name: str = "test"
) -> list[str]:
    """``python -m celery -A outlast.workers worker`` for ``queues``, quiet and fast to start."""
    return [
        sys.executable, "-m", "celery", "-A", "outlast.workers", "worker",
        "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool,
        "-n", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
        "--without-gossip", "--without-mingle", "-l", "INFO",
    ]  # fmt: skip


def start_worker(env: Mapping[str, str], command: Sequence[str] | None = None) -> WorkerProcess:
    """Start a worker with ``env`` added to this environment and wait until it is ready."""
    argv = list(command) if command is not None else celery_worker_command(["monitoring"])
    log_path = Path(tempfile.mkstemp(prefix="outlast-worker-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
        )
    worker = WorkerProcess(process, log_path)
    worker.wait_ready()
    return worker


@contextlib.contextmanager
def fresh_namespace(redis_url: str) -> Iterator[str]:
    """A namespace nobody else uses; its broker, results and store keys are deleted after."""
    name = f"t{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(redis_url)
        delete_keys_with_prefix(client, f"outlast:{name}:")
        delete_keys_with_prefix(client, f"outlast:{{{name}:")  # breaker and bulkhead keys
        delete_keys_with_prefix(client, f"{name}:")
        client.close()


def enqueue_from_app(
    env: Mapping[str, str], items: Sequence[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Enqueue ``items`` (``[name, args, kwargs, idempotency key]`` each) from a separate
    process, as an application would (``_enqueue_cli.py``); what ``enqueue`` returned."""
    done = subprocess.run(
        [sys.executable, str(TESTS_DIR / "_enqueue_cli.py"), json.dumps(items)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
