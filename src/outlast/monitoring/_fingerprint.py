"""Fingerprints: which recorded errors are the same problem.

fingerprint = hash(grouping version, error type, normalized message, operation, top in-app
frame). The in-app frame is the innermost frame of the traceback in the application's own
code: frames of the standard library, of installed packages and of Outlast itself are
library frames, so a wrapper or decorator never changes the grouping; a frame counts as
``module:function`` (no line numbers, so an edit above it does not regroup).

Pure: reads a traceback's frames, never the values in them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import sysconfig
from types import TracebackType
from typing import Final, NamedTuple

__all__ = ["GROUPING_VERSION", "Frame", "fingerprint", "frames_of", "top_in_app_frame"]

GROUPING_VERSION: Final = "1"
"""Bumped whenever the fingerprint recipe changes, so old groups are never silently merged."""

MAX_FRAMES: Final = 20
"""Frames kept of a traceback: the innermost ones, where the error was raised."""


class Frame(NamedTuple):
    """One traceback frame, without its locals (a tuple: built for every frame of every
    event, where a frozen dataclass costs several times more)."""

    module: str
    function: str
    filename: str
    lineno: int
    in_app: bool

    def label(self) -> str:
        """``file:line in function``, as kept in a trimmed traceback."""
        return f"{self.filename}:{self.lineno} in {self.function}"


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # outlast itself
    return tuple(sorted(os.path.normcase(os.path.abspath(r)) + os.sep for r in roots))


_LIBRARY_ROOTS: Final = _library_roots()


@functools.lru_cache(maxsize=4096)  # code locations are few: each is judged once
def _in_app(filename: str, module: str) -> bool:
    if (
        filename.startswith("<")
        or module.startswith("outlast.")
        or module in sys.builtin_module_names
    ):
        return False
    path = os.path.normcase(os.path.abspath(filename))
    return not path.startswith(_LIBRARY_ROOTS) and "site-packages" not in path


def frames_of(traceback: TracebackType | None) -> tuple[Frame, ...]:
    """The innermost :data:`MAX_FRAMES` frames of ``traceback``, outermost first."""
    frames: list[Frame] = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        module = str(traceback.tb_frame.f_globals.get("__name__", "?"))
        filename = code.co_filename
        frames.append(
            Frame(module, code.co_name, filename, traceback.tb_lineno, _in_app(filename, module))
        )
        traceback = traceback.tb_next
    return tuple(frames[-MAX_FRAMES:])


def top_in_app_frame(frames: tuple[Frame, ...]) -> str:
    """``module:function`` of the innermost in-app frame (else of the innermost frame)."""
    chosen = next((f for f in reversed(frames) if f.in_app), frames[-1] if frames else None)
    return f"{chosen.module}:{chosen.function}" if chosen is not None else ""


def fingerprint(*, error_type: str, normalized_message: str, operation: str, frame: str) -> str:
    """The group key of an error: 32 hex characters."""
    parts = (GROUPING_VERSION, error_type, normalized_message, operation, frame)
    # A lone surrogate (undecodable bytes in a message) is hashed as its escape, not lost.
    key = "\x1f".join(parts).encode("utf-8", "backslashreplace")
    return hashlib.blake2b(key, digest_size=16).hexdigest()
