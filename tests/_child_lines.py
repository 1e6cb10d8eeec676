"""Reading a child process's output line by line without hanging a test on it."""

from __future__ import annotations

import subprocess
import threading

__all__ = ["next_line"]


def next_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The child's next line of output, stripped; fails the test if none comes in time."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    # A daemon: if the child hangs, killing it ends the read and this thread.
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"process {process.pid} said nothing within {timeout} s"
    return lines[0].strip()
