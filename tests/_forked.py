"""Forked children that never outlive their test.

A child forked by ``multiprocessing`` that hangs (a lock copied while held, a socket read
that never returns) is joined again when the interpreter exits, so one hung child keeps the
whole test run from ending. :func:`finish` waits for a child and kills it when the wait is
over, so the test fails on its exit code instead.
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess

__all__ = ["finish"]


def finish(child: BaseProcess, timeout: float) -> int | None:
    """Wait up to ``timeout`` seconds for ``child``; kill it if it still runs. Its exit
    code (negative: the signal that ended it)."""
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
    return child.exitcode
