"""The test Redis bootstrap: throwaway servers, the shared fixtures, scripts/ensure_redis.py.

These start real redis-server processes on free loopback ports and wait for real processes,
so they sleep for real, briefly. They never touch a Redis they did not start, except through
the shared ``redis_url``/``redis_client`` fixtures, and then only under their own key prefix.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _servers import (
    REDIS_SERVER_ENV,
    RedisServer,
    RedisServerError,
    delete_keys_with_prefix,
    find_redis_server,
    free_port,
    start_redis_server,
)

ENSURE_REDIS = Path(__file__).resolve().parents[2] / "scripts" / "ensure_redis.py"


def _pid_exists(pid: int) -> bool:
    """Whether any process (even a zombie) has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _client(url: str) -> redis.Redis:
    """A client that gives up quickly on a server that is not there."""
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A throwaway redis-server, stopped after the test whatever happened."""
    with start_redis_server() as started:
        yield started


def test_started_server_answers_then_is_gone_after_stop(server: RedisServer) -> None:
    """A started server answers PING; after stop() connections are refused and its pid is gone."""
    with _client(server.url) as client:
        assert client.ping() is True
        server.stop()
        with pytest.raises(redis.ConnectionError, match="refused"):
            client.ping()
    assert not server.running
    assert not _pid_exists(server.pid)
    assert not server.directory.exists()


def test_stop_twice_is_harmless(server: RedisServer) -> None:
    """Stopping an already stopped server changes nothing and raises nothing."""
    server.stop()
    server.stop()
    assert not _pid_exists(server.pid)


def test_context_manager_stops_the_server() -> None:
    """Leaving the ``with`` block stops the server by its pid."""
    with start_redis_server() as server, _client(server.url) as client:
        assert client.ping() is True
    assert not _pid_exists(server.pid)


def test_server_listens_on_the_requested_port() -> None:
    """An explicit port is the one the server answers on, bound to loopback."""
    port = free_port()
    with start_redis_server(port) as server, _client(server.url) as client:
        assert server.port == port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert client.config_get("bind")["bind"] == "127.0.0.1"


def test_started_server_persists_nothing(server: RedisServer) -> None:
    """The throwaway server neither snapshots nor appends to a log file."""
    with _client(server.url) as client:
        config = client.config_get("*")
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert config["dir"] == str(server.directory.resolve())


def test_port_held_by_another_server_is_an_error(server: RedisServer) -> None:
    """Asking for a taken port fails clearly and leaves the server holding it alone."""
    with pytest.raises(RedisServerError, match=f"did not start on 127.0.0.1:{server.port}"):
        start_redis_server(server.port)
    with _client(server.url) as client:
        assert client.ping() is True


def test_unknown_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured binary that does not exist is reported by name."""
    monkeypatch.setenv(REDIS_SERVER_ENV, "/nonexistent/redis-server")
    with pytest.raises(RedisServerError, match="/nonexistent/redis-server"):
        find_redis_server()


def test_redis_url_fixture_answers_ping(redis_url: str) -> None:
    """The session's Redis URL points at a Redis that answers PING."""
    with _client(redis_url) as client:
        assert client.ping() is True


def test_redis_client_fixture_answers_ping(redis_client: redis.Redis) -> None:
    """The per-test client is connected to the test Redis."""
    assert redis_client.ping() is True


def test_prefix_cleanup_deletes_only_keys_under_the_prefix(
    redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Keys under the prefix are deleted; a key a glob reading of the prefix would match stays."""
    prefix = redis_key_prefix + "a[bc]*:"
    redis_client.set(prefix + "1", "x")
    redis_client.set(prefix + "2", "x")
    lookalike = redis_key_prefix + "ab-anything:1"
    redis_client.set(lookalike, "x")
    assert delete_keys_with_prefix(redis_client, prefix) == 2
    assert redis_client.exists(prefix + "1", prefix + "2") == 0
    assert redis_client.exists(lookalike) == 1


def test_empty_prefix_is_refused(redis_client: redis.Redis) -> None:
    """Cleanup with an empty prefix would delete everything, so it is refused."""
    with pytest.raises(ValueError, match="empty prefix"):
        delete_keys_with_prefix(redis_client, "")


def _bootstrap_env(**overrides: str) -> dict[str, str]:
    """The environment for ensure_redis.py, with the test-Redis variables replaced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTLAST_TEST_REDIS")}
    env[REDIS_SERVER_ENV] = find_redis_server()  # never pip-install from a test
    env.update(overrides)
    return env


def _run_bootstrap(env_file: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run ensure_redis.py to completion (it returns at once when a Redis answers)."""
    return subprocess.run(
        [sys.executable, str(ENSURE_REDIS), "--env-file", str(env_file)],
        env=_bootstrap_env(**env),
        capture_output=True,
        timeout=30,
        check=False,
    )


def _read_exports(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines ensure_redis.py wrote, as a dict."""
    pairs = (shlex.split(line)[1].split("=", 1) for line in path.read_text().splitlines())
    return dict(pairs)


def _wait_for_file(path: Path, holder: subprocess.Popen[bytes]) -> None:
    """Wait (for real: another process writes it) until ``path`` exists."""
    deadline = time.monotonic() + 20.0
    while not path.exists():
        assert holder.poll() is None, f"ensure_redis.py exited early with {holder.returncode}"
        assert time.monotonic() < deadline, "ensure_redis.py wrote no env file in 20s"
        time.sleep(0.05)


def test_bootstrap_uses_an_answering_redis_and_starts_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    """With OUTLAST_TEST_REDIS_URL answering, the script exports it and exits at once."""
    env_file = tmp_path / "redis.env"
    result = _run_bootstrap(env_file, OUTLAST_TEST_REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr.decode()
    exports = _read_exports(env_file)
    assert exports["OUTLAST_TEST_REDIS_URL"] == redis_url
    assert "OUTLAST_TEST_REDIS_PID" not in exports


def test_bootstrap_falls_through_a_silent_url_to_the_probe(redis_url: str, tmp_path: Path) -> None:
    """A set but silent OUTLAST_TEST_REDIS_URL is skipped for the probe URL that answers."""
    env_file = tmp_path / "redis.env"
    result = _run_bootstrap(
        env_file,
        OUTLAST_TEST_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        OUTLAST_TEST_REDIS_PROBE_URL=redis_url,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"does not answer PING" in result.stderr
    assert _read_exports(env_file)["OUTLAST_TEST_REDIS_URL"] == redis_url


def test_bootstrap_starts_a_server_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    """With nothing answering, the script starts a server, and SIGTERM stops it by pid."""
    env_file = tmp_path / "redis.env"
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    holder = subprocess.Popen(
        [sys.executable, str(ENSURE_REDIS), "--env-file", str(env_file)],
        env=_bootstrap_env(OUTLAST_TEST_REDIS_PROBE_URL=nothing_listens),
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_file(env_file, holder)
        exports = _read_exports(env_file)
        started_pid = int(exports["OUTLAST_TEST_REDIS_PID"])
        with _client(exports["OUTLAST_TEST_REDIS_URL"]) as client:
            assert client.ping() is True
            holder.send_signal(signal.SIGTERM)
            assert holder.wait(timeout=20) == 0
            with pytest.raises(redis.ConnectionError, match="refused"):
                client.ping()
        assert not _pid_exists(started_pid)
    finally:
        _stop_holder(holder)


def _stop_holder(holder: subprocess.Popen[bytes]) -> None:
    """End the script if the test did not: SIGTERM lets it stop its server first."""
    if holder.poll() is None:
        holder.terminate()
        try:
            holder.wait(timeout=20)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
