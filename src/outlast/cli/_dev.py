"""``outlast dev``: the whole worker system on one machine, from one command.

It uses the Redis at ``OUTLAST_REDIS_URL`` (else the workers' default, 127.0.0.1:6379) if
one answers PING, or else starts an embedded redis-server on a free loopback port and points
every child at it. Then it starts, each as a child process in its own process group, a worker
for every declared queue, beat, Flower and the health API (:mod:`~outlast.cli._dev_api`:
loopback, a token for the session), prints what runs where (URLs, process ids, logs) and,
once all are ready, which URLs need the token, and waits. The workers write their metrics to
a directory the API reads (:mod:`~outlast.cli._dev_metrics`). Ctrl-C, SIGTERM or SIGHUP
stops every child (warm shutdown, then SIGKILL of its group) and the embedded Redis, so
nothing it started is left running.

A child that exits on its own is reported with the end of its log, everything else is
stopped, and ``outlast dev`` exits with status 1: a half-running system is never left
looking like a whole one. It never stops or flushes a Redis it did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from outlast.cli._children import Child, start_child, stop_children
from outlast.cli._dev_api import DevApi, plan_api
from outlast.cli._dev_metrics import session_metrics
from outlast.cli._redis_server import EmbeddedRedis, find_redis_server, probe, start_embedded
from outlast.config import FlowerSettings

__all__ = ["DevOptions", "run_dev"]

_POLL_SECONDS = 0.2
_STOPPED = 0
_FAILED = 1

Ready = Callable[[Child], bool]


@dataclass(frozen=True)
class _Part:
    """One child to start: its name, command, log file, readiness check, extra environment
    and what its start line says before the pid."""

    name: str
    argv: list[str]
    log_name: str
    ready: Ready
    env: Mapping[str, str]
    where: str = ""


@dataclass(frozen=True)
class DevOptions:
    """What ``outlast dev`` runs and how long it waits for it."""

    redis_url: str
    queues: tuple[str, ...]
    flower: FlowerSettings
    concurrency: int = 1
    log_dir: Path | None = None
    ready_timeout: float = 90.0
    stop_grace: float = 20.0


def _say(line: str) -> None:
    print(f"outlast dev: {line}", flush=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _logged(text: str) -> Ready:
    return lambda child: text in child.log()


def _listening(settings: FlowerSettings) -> Ready:
    def ready(_: Child) -> bool:
        address = (settings.flower_address, settings.flower_port)
        try:
            with socket.create_connection(address, timeout=0.5):
                return True
        except OSError:
            return False

    return ready


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "outlast.cli", *args]


def _plan(options: DevOptions, api: DevApi) -> list[_Part]:
    """Every child, in starting order."""
    workers = [
        _Part(
            f"worker {queue}",
            _command("worker", "-Q", queue, "-c", str(options.concurrency), "-n", f"{queue}@%h"),
            f"worker-{queue}.log",
            _logged(" ready."),
            {},
        )
        for queue in options.queues
    ]
    flower = options.flower
    return [
        *workers,
        _Part("beat", _command("beat"), "beat.log", _logged("beat: Starting"), {}),
        _Part("flower", _command("flower"), "flower.log", _listening(flower), {}, _where(flower)),
        _Part("api", api.argv(), "api.log", api.ready(), api.env(), api.where()),
    ]


def _where(settings: FlowerSettings) -> str:
    login = f"user {settings.flower_user}" if settings.flower_user else "no login: loopback only"
    return f"{settings.url} ({login})  "


def _start_all(
    parts: list[_Part], env: Mapping[str, str], log_dir: Path, children: list[Child]
) -> None:
    """Start every child, adding each to ``children`` as soon as it runs (so it is stopped
    even if a later one fails to start), and say where it runs."""
    for part in parts:
        child = start_child(
            part.name,
            part.argv,
            env={**env, **part.env},
            log_path=log_dir / part.log_name,
            ready=part.ready,
        )
        children.append(child)
        _say(f"{part.name:<18} {part.where}pid {child.pid}  log {child.log_path}")


def _died(children: list[Child], server: EmbeddedRedis | None) -> str | None:
    """A report on the first child (or the embedded Redis) that has exited, if any."""
    for child in children:
        if child.exit_code is not None:
            return f"{child.name} (pid {child.pid}) exited with status {child.exit_code}; " + (
                f"the end of {child.log_path}:\n{child.log_tail()}"
            )
    if server is not None and server.process.poll() is not None:
        return f"the embedded redis-server (pid {server.pid}) exited; see {server.log_path}"
    return None


def _wait_ready(
    children: list[Child], server: EmbeddedRedis | None, stop: threading.Event, timeout: float
) -> str | None:
    """None once every child is ready (said, with how to use the API) or a stop was asked
    for; else what went wrong."""
    started, waiting = time.monotonic(), list(children)
    while waiting and not stop.is_set():
        death = _died(children, server)
        if death is not None:
            return death
        if time.monotonic() - started > timeout:
            names = ", ".join(child.name for child in waiting)
            return f"not ready after {timeout:.0f}s: {names} (see their logs)"
        waiting = [child for child in waiting if not child.is_ready()]
        stop.wait(_POLL_SECONDS)
    if not stop.is_set():
        _say(f"ready in {time.monotonic() - started:.1f}s; Ctrl-C or SIGTERM stops everything")
    return None


def _supervise(
    children: list[Child],
    server: EmbeddedRedis | None,
    stop: threading.Event,
    timeout: float,
    usage: list[str],
) -> int:
    """Wait for a stop (status 0) or a death (reported, status 1); once every child is
    ready, print ``usage``."""
    problem = _wait_ready(children, server, stop, timeout)
    if problem is None and not stop.is_set():
        for line in usage:
            _say(line)
    while problem is None and not stop.is_set():
        problem = _died(children, server)
        stop.wait(_POLL_SECONDS)
    if problem is not None:
        print(f"outlast dev: {problem}", file=sys.stderr, flush=True)
        return _FAILED
    return _STOPPED


def _redis(url: str) -> tuple[str, EmbeddedRedis | None]:
    """The URL every child uses, and the server started for it (None when one answered)."""
    if probe(url):
        _say(f"{'redis':<18} {url}  (already running; not started or stopped here)")
        return url, None
    server = start_embedded(find_redis_server())
    _say(
        f"{'redis':<18} {server.url}  embedded (nothing answered at {url}), "
        f"pid {server.pid}, data in {server.directory} (removed at exit)"
    )
    return server.url, server


def _run_children(
    options: DevOptions,
    api: DevApi,
    env: dict[str, str],
    stop: threading.Event,
    server: EmbeddedRedis | None,
) -> int:
    log_dir = options.log_dir or Path(tempfile.mkdtemp(prefix="outlast-dev-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    try:
        api = api.on_a_port()  # now, so no port the embedded Redis took is handed out
        _start_all(_plan(options, api), env, log_dir, children)
        return _supervise(children, server, stop, options.ready_timeout, api.usage())
    finally:
        _say(f"stopping {len(children)} processes")
        stop_children(children, grace=options.stop_grace)
        _say(f"stopped; logs kept in {log_dir}")


def run_dev(options: DevOptions) -> int:
    """Run everything until a stop is asked for (0) or something dies (1); a configuration
    error (of the API's tokens, say) is raised before anything starts."""
    api = plan_api()
    stop = _stop_on_signals()
    url, server = _redis(options.redis_url)
    metrics = session_metrics()
    _say(f"{'metrics':<18} {metrics.describe()}")
    try:
        env = {**os.environ, **metrics.env(), "OUTLAST_REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
        return _run_children(options, api, env, stop, server)
    finally:
        metrics.remove()
        if server is not None:
            server.stop()
            _say(f"stopped the embedded redis-server (pid {server.pid})")
