"""The process-wide test switch: when on, retries skip their sleeps (and may cap attempts)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TestMode", "current", "set_mode"]


@dataclass(frozen=True, slots=True)
class TestMode:
    """``enabled`` skips retry sleeps; ``max_attempts`` caps attempts when not None."""

    __test__ = False  # not a pytest test class

    enabled: bool = False
    max_attempts: int | None = None


_mode = TestMode()


def current() -> TestMode:
    """The switch as it is now."""
    return _mode


def set_mode(mode: TestMode) -> TestMode:
    """Install ``mode`` and return the previous one."""
    global _mode
    previous, _mode = _mode, mode
    return previous
