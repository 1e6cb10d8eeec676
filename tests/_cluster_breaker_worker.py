"""A separate OS process that uses a cluster circuit breaker, for the multi-process tests.

:class:`BreakerProcess` starts :func:`serve` in a process of its own (``spawn``: a fresh
interpreter, nothing inherited) and sends it commands over a pipe; each command answers with
one value. The breaker comes from ``get_circuit_breaker(..., scope="cluster")`` with
``OUTLAST_REDIS_URL`` and ``OUTLAST_NAMESPACE`` set in the child, exactly as an application
gets one. Times are ``time.monotonic()`` readings, which on Linux are comparable across
processes of one host.

It sleeps and reads time for real: real concurrency between processes is what the tests
prove. Every process is joined, or killed by its pid, when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

_POLL = 0.0005  # seconds between looks at the breaker's state while waiting for a change
_TRY_EVERY = 0.002  # seconds between admission attempts in a probe window


class Boom(Exception):
    """The failure the protected call raises."""


def _explode() -> None:
    raise Boom("down")


def serve(conn: Connection, redis_url: str, namespace: str, settings: dict[str, Any]) -> None:
    """Create the breaker (cluster scope unless ``settings["scope"]`` says otherwise), say
    "ready", then answer commands until "stop"."""
    os.environ["OUTLAST_REDIS_URL"] = redis_url
    os.environ["OUTLAST_NAMESPACE"] = namespace
    from outlast.resilience import get_circuit_breaker

    scope = settings.pop("scope", "cluster")
    breaker = get_circuit_breaker("shared", scope=scope, **settings)
    held: list[float] = []
    conn.send(("ready", breaker.state.value))
    while True:
        command, *args = conn.recv()
        if command == "stop":
            conn.send("stopped")
            return
        conn.send(_run(breaker, held, command, args))


def _run(breaker: Any, held: list[float], command: str, args: list[Any]) -> Any:
    """One command's answer (see BreakerProcess for the list)."""
    if command == "calls":
        return [_call(breaker, outcome) for outcome in args[0]]
    if command == "wait_state":
        return _wait_state(breaker, args[0], args[1])
    if command == "probe_window":
        return _probe_window(breaker, held, args[0])
    if command == "finish_probes":
        for started in held:
            if args[0] == "ok":
                breaker.on_success(started)
            else:
                breaker.on_failure(Boom("probe failed"), started)
        count = len(held)
        held.clear()
        return count
    if command == "stats":
        return breaker.stats()
    if command == "hammer":
        return asyncio.run(_hammer(breaker, *args))
    raise ValueError(f"unknown command {command!r}")


def _call(breaker: Any, outcome: str) -> tuple[str, float]:
    """Run one call that succeeds ("ok") or raises ("fail"); what happened and when."""
    from outlast.errors import CircuitBreakerOpenError

    try:
        breaker.call_sync(_explode if outcome == "fail" else time.monotonic)
    except Boom:
        return ("failed", time.monotonic())
    except CircuitBreakerOpenError:
        return ("rejected", time.monotonic())
    return ("ok", time.monotonic())


async def _hammer(breaker: Any, seconds: float, min_rejected: int = 0) -> tuple[int, int]:
    """Call a failing async service back to back for ``seconds`` and until the breaker has
    rejected ``min_rejected`` calls (a cold start on a loaded machine can spend the whole
    window on its first calls; 10 s at most); how many reached it, how many were rejected."""
    from outlast.errors import CircuitBreakerOpenError

    reached = rejected = 0

    async def service() -> None:
        nonlocal reached
        reached += 1
        raise Boom("down")

    started = time.monotonic()
    deadline, cap = started + seconds, started + 10.0
    while time.monotonic() < deadline or (rejected < min_rejected and time.monotonic() < cap):
        try:
            await breaker.call(service)
        except Boom:
            pass
        except CircuitBreakerOpenError:
            rejected += 1
    return reached, rejected


def _wait_state(breaker: Any, state: str, timeout: float) -> float | None:
    """The monotonic time this process first saw ``state``, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if breaker.state == state:
            return time.monotonic()
        time.sleep(_POLL)
    return None


def _probe_window(breaker: Any, held: list[float], seconds: float) -> int:
    """Try to be admitted for ``seconds``; keep (do not finish) every call let through."""
    from outlast.errors import CircuitBreakerOpenError

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(CircuitBreakerOpenError):
            held.append(breaker.before_call())
        time.sleep(_TRY_EVERY)
    return len(held)


class BreakerProcess:
    """A child process with a cluster breaker "shared", driven by commands.

    Commands: ``calls(outcomes)`` -> [(result, time)]; ``wait_state(state, timeout)`` ->
    time seen or None; ``probe_window(seconds)`` -> calls admitted and held;
    ``finish_probes("ok"|"fail")`` -> how many were finished; ``stats()``;
    ``hammer(seconds)`` -> (calls that reached a failing async service, calls rejected).
    """

    def __init__(self, redis_url: str, namespace: str, **settings: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(child, redis_url, namespace, settings), daemon=True
        )
        self.process.start()
        child.close()

    def ready(self, timeout: float = 20.0) -> str:
        """Wait until the child has its breaker; the state it saw first."""
        reply = self.receive(timeout)
        assert reply[0] == "ready", reply
        return str(reply[1])

    def send(self, command: str, *args: Any) -> None:
        """Start a command without waiting for its answer."""
        self._conn.send((command, *args))

    def receive(self, timeout: float = 20.0) -> Any:
        """The answer to the oldest command sent."""
        if not self._conn.poll(timeout):
            raise TimeoutError(f"worker {self.process.pid} did not answer in {timeout}s")
        return self._conn.recv()

    def ask(self, command: str, *args: Any, timeout: float = 20.0) -> Any:
        """Send a command and wait for its answer."""
        self.send(command, *args)
        return self.receive(timeout)

    def close(self) -> None:
        """Stop the child; kill it by pid if it does not stop in time."""
        try:
            if self.process.is_alive():
                self.send("stop")
        except (BrokenPipeError, OSError):
            pass
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self._conn.close()
