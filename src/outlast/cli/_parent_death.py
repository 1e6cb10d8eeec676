"""Children that end when ``outlast dev`` ends, even when it is killed outright (Linux).

:func:`ends_with_parent` gives a ``preexec_fn`` that asks the kernel (``prctl``
``PR_SET_PDEATHSIG``) to send the child SIGTERM when the process that started it dies: a
worker then shuts down warm and redis-server exits, so a SIGKILLed ``outlast dev`` leaves
nothing running. Elsewhere it gives None and the orderly stop is the only one. It must only
be used from a process with no other threads, as ``preexec_fn`` requires.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["ends_with_parent"]

_PR_SET_PDEATHSIG = 1


def ends_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child's life to this process, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    parent = os.getpid()

    def tie() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took hold
            os._exit(1)

    return tie
