"""``outlast dev`` run as a real process for tests, and checks that what it started is gone.

``DevProcess.start()`` runs the console script in a process group of its own with its output
in a file, and ``wait_for()`` reads that output until a line appears. ``printed_pids()`` are
the process ids it said it started (the embedded redis-server's among them).
``.cleanup()`` is every test's last step: whatever is still running of what it started is
stopped by process-group id, never by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["OUTLAST", "DevProcess", "group_gone", "process_gone"]

OUTLAST = Path(sys.executable).with_name("outlast")

_PID = re.compile(r"\bpid (\d+)")


def process_gone(pid: int) -> bool:
    """Whether no process (not even a zombie) has id ``pid``."""
    return not Path(f"/proc/{pid}").exists()


def group_gone(pgid: int) -> bool:
    """Whether no process is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


class DevProcess:
    """A running ``outlast dev``: its process and everything it printed."""

    def __init__(self, process: subprocess.Popen[bytes], output: Path) -> None:
        self.process = process
        self.output_path = output

    @classmethod
    def start(cls, env: Mapping[str, str], output: Path) -> DevProcess:
        """Start ``outlast dev`` with ``env`` added to this environment."""
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(OUTLAST), "dev", "--log-dir", str(output.parent / "logs")],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                env={**os.environ, **env}, start_new_session=True,
            )  # fmt: skip
        return cls(process, output)

    def output(self) -> str:
        """Everything it printed so far."""
        return self.output_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until ``text`` appears in the output; fails with the output otherwise."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if text in self.output():
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise AssertionError(f"outlast dev exited ({self.process.returncode}):\n{self}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not printed within {timeout}s:\n{self}")

    def line(self, starting: str) -> str:
        """The first line of output whose text after the prefix starts with ``starting``."""
        for line in self.output().splitlines():
            if line.removeprefix("outlast dev: ").startswith(starting):
                return line
        raise AssertionError(f"no line starting {starting!r}:\n{self}")

    def printed_pids(self) -> list[int]:
        """Every process id it printed, in order."""
        return [int(pid) for pid in _PID.findall(self.output())]

    def stop(self, signum: signal.Signals, timeout: float = 40.0) -> int:
        """Send ``signum`` to the dev process alone and wait for its exit status."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def cleanup(self) -> None:
        """After a test, pass or fail: SIGTERM it if it still runs, then SIGKILL its group
        and the group of every process id it printed that is still there."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=40)
        for pgid in [self.process.pid, *self.printed_pids()]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.process.wait()

    def __str__(self) -> str:
        return self.output()
