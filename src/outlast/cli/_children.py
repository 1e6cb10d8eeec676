"""Child processes that ``outlast dev`` runs: each in a process group of its own, logging to
a file, stopped by its process-group id.

A child is started in a new session, so the terminal's Ctrl-C reaches ``outlast dev`` alone
and the children stop in the order and the way it chooses: SIGTERM to the whole group (a
Celery worker's warm shutdown), then SIGKILL to whatever of the group is left after the grace
period. Should ``outlast dev`` itself be killed, each child gets SIGTERM from the kernel
(:mod:`~outlast.cli._parent_death`). Nothing here signals a process it did not start, or
signals by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from outlast.cli._parent_death import ends_with_parent

__all__ = ["Child", "start_child", "stop_children"]

_POLL_SECONDS = 0.1
_REAP_SECONDS = 5.0


@dataclass(frozen=True)
class Child:
    """A started child: what it is, its process (its group has the same id) and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready: Callable[[Child], bool]

    @property
    def pid(self) -> int:
        """The process id, which is also the id of the child's process group."""
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        """None while the child runs; its exit status once it has ended (reaped)."""
        return self.process.poll()

    def is_ready(self) -> bool:
        """Whether the child says it is ready (read from its log or by connecting to it)."""
        return self.ready(self)

    def log(self) -> str:
        """Everything the child has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the child's log."""
        return "\n".join(self.log().splitlines()[-lines:])

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the child's process group (nothing if it has already gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    ready: Callable[[Child], bool],
) -> Child:
    """Start ``argv`` in a new session with ``env``, its output going to ``log_path``."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )
    return Child(name=name, process=process, log_path=log_path, ready=ready)


def stop_children(children: Sequence[Child], *, grace: float) -> None:
    """Warm-stop every child's group at once, SIGKILL each group after ``grace`` seconds,
    and reap every child, so none is left running or as a zombie."""
    for child in children:
        if child.exit_code is None:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(c.exit_code is None for c in children) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    for child in children:
        # Also for a child that has exited: its pool processes may still hold the group.
        child.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=_REAP_SECONDS)
