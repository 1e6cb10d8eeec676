"""Restart hooks: the two ways a service may be restarted, each fixed when it is made.

``ArgvRestart`` runs a command as an argv list (never through a shell); ``WebhookRestart``
sends one HTTP request to a fixed URL. Neither takes anything at restart time: a hook is
built in code or from settings, never from event or error data, so a failure message can
never choose what runs. A service may only use a hook its registry allow-lists.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import httpx

__all__ = ["ArgvRestart", "RestartFailedError", "RestartHook", "WebhookRestart"]


class RestartFailedError(RuntimeError):
    """A restart hook ran but did not succeed (exit status, HTTP status, or timeout)."""


@runtime_checkable
class RestartHook(Protocol):
    """Restarts one service; raises ``RestartFailedError`` when it could not."""

    async def restart(self) -> None:
        """Run the restart once."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgvRestart:
    """Runs ``argv`` without a shell.

    With ``wait`` the command must exit 0 within ``timeout`` (a ``systemctl restart``);
    without it the command is started and left running (a server started in the
    foreground), and ``started`` keeps the started processes still running, so their owner
    can stop them by pid.
    """

    argv: tuple[str, ...]
    wait: bool = True
    timeout: float = 30.0
    started: list[subprocess.Popen[bytes]] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        if not self.argv or not all(isinstance(part, str) and part for part in self.argv):
            raise ValueError(f"ArgvRestart.argv must be non-empty strings, got {self.argv!r}")
        object.__setattr__(self, "argv", tuple(self.argv))

    async def restart(self) -> None:
        if self.wait:
            await asyncio.to_thread(self._run_to_end)
        else:
            self._start()

    def _start(self) -> None:
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            raise RestartFailedError(f"cannot run {self.argv[0]}: {error}") from error
        # Reap the ones that ended since (no zombies); the running ones stay listed.
        self.started[:] = [*(p for p in self.started if p.poll() is None), process]

    def _run_to_end(self) -> None:
        try:
            done = subprocess.run(self.argv, capture_output=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RestartFailedError(f"{self.argv[0]} failed: {error}") from error
        if done.returncode != 0:
            raise RestartFailedError(f"{self.argv[0]} exited with status {done.returncode}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRestart:
    """Sends ``method url`` (no body) and expects one of ``expected_status``."""

    url: str
    method: str = "POST"
    expected_status: Collection[int] = (200, 201, 202, 204)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"WebhookRestart.url must be an http(s) URL, got {self.url!r}")
        object.__setattr__(self, "expected_status", frozenset(self.expected_status))

    async def restart(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.request(self.method, self.url)
        except httpx.HTTPError as error:
            raise RestartFailedError(f"restart webhook failed: {type(error).__name__}") from error
        if response.status_code not in self.expected_status:
            raise RestartFailedError(f"restart webhook answered {response.status_code}")
