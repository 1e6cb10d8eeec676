"""``outlast dev`` end to end: it brings up Redis (embedded when none answers), a worker per
queue, beat, Flower and the health API; work round-trips; the API answers with the session's
token and shows the workers' metrics; a stop or a death leaves nothing running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _dev_process import DevProcess, group_gone, process_gone
from _servers import free_port, redis_answers, start_redis_server
from _workers import fresh_namespace
from outlast.workers import QUEUES

_READY_TIMEOUT = 60.0
_CHILDREN = len(QUEUES) + 3  # a worker per queue, beat, Flower and the API
_REPORT = "/family/health/error-handling"

_OPERATIONS = '''
"""An application's operation for the dev test: it records that it ran."""

import os

import redis

from outlast import operation


@operation("devcheck.mark", queue="operations")
def mark(key: str) -> str:
    """Set ``key`` in the Redis the workers use."""
    redis.Redis.from_url(os.environ["OUTLAST_REDIS_URL"]).set(key, "ran")
    return key
'''

_ENQUEUE = """
import sys

import devcheck_ops  # noqa: F401  (registers the operation, as an app's import would)
from outlast import enqueue

print(enqueue("devcheck.mark", sys.argv[1])["status"])
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An application folder holding one operations module and an enqueueing script."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "devcheck_ops.py").write_text(textwrap.dedent(_OPERATIONS))
    (folder / "enqueue_one.py").write_text(textwrap.dedent(_ENQUEUE))
    return folder


def _env(redis_url: str, namespace: str, app_dir: Path) -> dict[str, str]:
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_FLOWER_PORT": str(free_port()),
        "OUTLAST_TASK_MODULES": '["devcheck_ops"]',
        "PYTHONPATH": str(app_dir),
    }


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


@contextlib.contextmanager
def _running_dev(env: dict[str, str], tmp_path: Path) -> Iterator[DevProcess]:
    dev = DevProcess.start(env, tmp_path / "dev.out")
    try:
        yield dev
    finally:
        dev.cleanup()


def _round_trip(dev: DevProcess, env: dict[str, str], app_dir: Path, redis_url: str) -> None:
    key = f"devcheck:{time.monotonic_ns()}"
    sent = subprocess.run(
        [sys.executable, str(app_dir / "enqueue_one.py"), key],
        capture_output=True, text=True, env={**os.environ, **env, "OUTLAST_REDIS_URL": redis_url},
        timeout=30, check=False,
    )  # fmt: skip
    assert sent.stdout.split() == ["queued"], sent.stderr
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 30
    while client.get(key) != b"ran":
        assert time.monotonic() < deadline, f"the task did not run within 30 s:\n{dev}"
        time.sleep(0.05)
    client.delete(key)
    client.close()


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """The status and body of ``GET url``, with the bearer token if one is given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _api_url(dev: DevProcess) -> str:
    """The base URL of the API as its start line prints it."""
    return dev.line("api ").split()[3].rstrip("/")


def _session_token(dev: DevProcess) -> str:
    """The admin token dev printed for the session."""
    return dev.line("api: admin token made for this session").split()[-1]


def _children_of(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def _all_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """The process ids among ``pids`` that are still there (or their group) after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = pids
    while left and time.monotonic() < deadline:
        left = [pid for pid in pids if not (process_gone(pid) and group_gone(pid))]
        time.sleep(0.05)
    return left


def test_dev_starts_an_embedded_redis_runs_work_and_leaves_nothing_after_ctrl_c(
    tmp_path: Path, app_dir: Path
) -> None:
    """With nothing at OUTLAST_REDIS_URL, dev runs on an embedded Redis, a task round-trips
    within 30 s, and SIGINT stops every child and the redis-server by pid."""
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    env = _env(nothing_there, "devtest", app_dir)
    with _running_dev(env, tmp_path) as dev:
        dev.wait_for("ready in", _READY_TIMEOUT)
        redis_line = dev.line("redis")
        assert "embedded" in redis_line, dev
        embedded_url = redis_line.split()[3]
        assert embedded_url != nothing_there
        pids = dev.printed_pids()
        assert len(pids) == _CHILDREN + 1, dev  # the children and the redis-server
        assert _children_of(dev.process.pid) == set(pids), dev
        _round_trip(dev, env, app_dir, embedded_url)
        api, token = _api_url(dev), _session_token(dev)
        assert _get(f"{api}/health/live") == (200, b'{"status":"pass"}')
        assert _get(f"{api}{_REPORT}")[0] == 401
        status, body = _get(f"{api}{_REPORT}", token)
        assert status == 200, body
        assert json.loads(body)["status"] == "healthy"
        assert 'task="devcheck.mark"' in _get(f"{api}/metrics", token)[1].decode()
        metrics_dir = Path(dev.line("metrics").split()[2])
        assert dev.stop(signal.SIGINT) == 0, dev
        assert _all_gone(pids) == [], dev
        assert not redis_answers(embedded_url, timeout=0.2)
        data_dir = Path(redis_line.split("data in ")[1].split()[0])
        assert not data_dir.exists()
        assert not metrics_dir.exists()
        logs = (tmp_path / "logs").glob("*.log")
        assert [log.name for log in logs if token in log.read_text(errors="replace")] == []


def test_dev_uses_a_redis_that_answers_and_starts_none(
    tmp_path: Path, app_dir: Path, redis_url: str, namespace: str
) -> None:
    """With a Redis answering at OUTLAST_REDIS_URL, dev uses it, starts no redis-server,
    runs work on it, and SIGTERM stops its children but leaves that Redis running; the API
    takes the configured port and admin token, and that token is never printed."""
    secret, port = f"configured-{time.monotonic_ns()}", free_port()
    env = {
        **_env(redis_url, namespace, app_dir),
        "OUTLAST_ADMIN_TOKENS": f"ops={secret}",
        "OUTLAST_API_PORT": str(port),
    }
    with _running_dev(env, tmp_path) as dev:
        dev.wait_for("ready in", _READY_TIMEOUT)
        assert "already running" in dev.line("redis"), dev
        assert _api_url(dev) == f"http://127.0.0.1:{port}", dev
        assert _get(f"{_api_url(dev)}{_REPORT}", secret)[0] == 200
        assert secret not in dev.output()
        assert "one of OUTLAST_ADMIN_TOKENS" in dev.output()
        pids = dev.printed_pids()
        assert len(pids) == _CHILDREN, dev
        children = _children_of(dev.process.pid)
        assert children == set(pids), dev
        assert all(Path(f"/proc/{pid}/comm").read_text().strip() != "redis-server" for pid in pids)
        _round_trip(dev, env, app_dir, redis_url)
        assert dev.stop(signal.SIGTERM) == 0, dev
        assert _all_gone(pids) == [], dev
        assert redis_answers(redis_url)


def test_a_child_that_dies_is_reported_and_dev_exits_1_stopping_the_rest(
    tmp_path: Path, app_dir: Path, redis_url: str, namespace: str
) -> None:
    """When beat is killed, dev names it and its exit, stops every other child, exits 1."""
    env = _env(redis_url, namespace, app_dir)
    with _running_dev(env, tmp_path) as dev:
        dev.wait_for("ready in", _READY_TIMEOUT)
        pids = dev.printed_pids()
        beat = int(dev.line("beat").split("pid ")[1].split()[0])
        os.killpg(beat, signal.SIGKILL)
        assert dev.process.wait(timeout=40) == 1, dev
        assert f"beat (pid {beat}) exited with status -9" in dev.output()
        assert _all_gone(pids) == [], dev


def test_dev_killed_outright_leaves_no_child_or_redis_behind(tmp_path: Path, app_dir: Path) -> None:
    """Even a SIGKILLed dev leaves nothing: the kernel sends every child and the embedded
    redis-server SIGTERM as their parent dies."""
    env = _env(f"redis://127.0.0.1:{free_port()}/0", "devkilled", app_dir)
    with _running_dev(env, tmp_path) as dev:
        dev.wait_for("ready in", _READY_TIMEOUT)
        pids = dev.printed_pids()
        assert len(pids) == _CHILDREN + 1, dev
        dev.process.kill()
        dev.process.wait(timeout=10)
        assert _all_gone(pids, timeout=30) == [], dev


def test_dev_refuses_a_redis_that_answers_but_refuses_ping(tmp_path: Path) -> None:
    """A Redis that wants a password the URL lacks is named (status 2), never replaced."""
    with start_redis_server() as server:
        client = redis.Redis.from_url(server.url)
        client.config_set("requirepass", "s3cret")
        client.close()
        with _running_dev({"OUTLAST_REDIS_URL": server.url}, tmp_path) as dev:
            assert dev.process.wait(timeout=30) == 2, dev
    assert "the Redis at OUTLAST_REDIS_URL answers but refuses PING" in dev.output()
    assert "AuthenticationError" not in dev.output()  # one line, no traceback
    assert not (tmp_path / "logs").exists()


def test_dev_refuses_a_malformed_token_list_before_starting_anything(tmp_path: Path) -> None:
    """A bad OUTLAST_ADMIN_TOKENS entry is named by position (never quoted), status 2, and
    nothing is started."""
    env = {"OUTLAST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    env["OUTLAST_ADMIN_TOKENS"] = "good-one,bad name=s3cret-value"
    with _running_dev(env, tmp_path) as dev:
        assert dev.process.wait(timeout=30) == 2, dev
    assert "OUTLAST_ADMIN_TOKENS: entry 2" in dev.output()
    assert "s3cret-value" not in dev.output()
    assert dev.printed_pids() == []
    assert not (tmp_path / "logs").exists()


def test_dev_refuses_a_sentinel_redis_url(tmp_path: Path) -> None:
    """A sentinel URL is not one Redis dev can probe or run beside: named, status 2."""
    env = {
        "OUTLAST_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "OUTLAST_REDIS_URL": "redis+sentinel://127.0.0.1:26379/mymaster/0",
    }
    with _running_dev(env, tmp_path) as dev:
        assert dev.process.wait(timeout=30) == 2, dev
    assert "outlast dev runs on one Redis (redis://, rediss:// or unix://)" in dev.output()
    assert not (tmp_path / "logs").exists()
