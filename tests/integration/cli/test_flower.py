"""``outlast flower`` end to end: a real worker runs a task, and Flower, with the settings'
login, lists it with its name, arguments and state, over its API and on its page as headless
Chromium renders it. Without the login it answers 401."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _dev_process import OUTLAST
from _servers import free_port
from _workers import (
    TESTS_DIR,
    celery_worker_command,
    enqueue_from_app,
    fresh_namespace,
    start_worker,
)

_USER, _PASSWORD = "ops", "pw:with,punctuation"
_ARTIFACTS = Path(os.environ.get("OUTLAST_TEST_ARTIFACTS") or TESTS_DIR.parent / "test-artifacts")


@dataclass(frozen=True)
class FlowerSite:
    """A running ``outlast flower`` and the environment that enqueues to its worker."""

    port: int
    env: dict[str, str]

    def get(self, path: str, *, login: str | None) -> tuple[int, bytes]:
        """GET ``path`` with the basic-auth ``login`` (``user:password``) or none."""
        headers = {}
        if login is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"Flower did not listen within 30 s:\n{log.read_text()}")


@contextlib.contextmanager
def _flower(env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(OUTLAST), "flower"], stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_listening(int(env["OUTLAST_FLOWER_PORT"]), process, log)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def site(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowerSite]:
    """A worker on the operations queue and ``outlast flower`` (login on), one namespace."""
    with fresh_namespace(redis_url) as namespace:
        env = {
            "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
            "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
            "OUTLAST_FLOWER_PORT": str(free_port()),
            "OUTLAST_FLOWER_USER": _USER,
            "OUTLAST_FLOWER_PASSWORD": _PASSWORD,
        }
        log = tmp_path_factory.mktemp("flower") / "flower.log"
        with start_worker(env, celery_worker_command(["operations"])), _flower(env, log):
            yield FlowerSite(port=int(env["OUTLAST_FLOWER_PORT"]), env=env)


def _finished_task(site: FlowerSite, task_id: str) -> dict[str, Any]:
    """The task as Flower's API shows it, once Flower has seen it succeed."""
    deadline = time.monotonic() + 20
    while True:
        status, body = site.get("/api/tasks", login=f"{_USER}:{_PASSWORD}")
        assert status == 200, body
        task: dict[str, Any] = json.loads(body).get(task_id, {})
        if task.get("state") == "SUCCESS" or time.monotonic() > deadline:
            return task
        time.sleep(0.1)


def test_flower_lists_a_task_with_its_name_arguments_and_state(site: FlowerSite) -> None:
    """A task the worker ran shows in Flower's API with its name, arguments and state."""
    [sent] = enqueue_from_app(site.env, [["tests.noop", [41], {}, None]])
    task = _finished_task(site, sent["task_id"])
    assert (task.get("name"), task.get("args"), task.get("state")) == (
        "tests.noop",
        "[41]",
        "SUCCESS",
    ), task


@pytest.mark.parametrize("path", ["/api/tasks", "/tasks", "/"])
@pytest.mark.parametrize("login", [None, f"{_USER}:wrong", f"nobody:{_PASSWORD}"])
def test_flower_answers_401_without_the_login(site: FlowerSite, path: str, login: str) -> None:
    """No login, a wrong password or a wrong user gets 401 from the API and the pages."""
    status, _ = site.get(path, login=login)
    assert status == 401


def test_flower_page_in_headless_chromium_lists_the_task(site: FlowerSite) -> None:
    """Chromium renders Flower's tasks page (login in the URL) with the task's name, arguments
    and state in the table; the screenshot is kept under test-artifacts/."""
    chromium = shutil.which("chromium")
    if chromium is None:
        assert not os.environ.get("CI"), "CI must have chromium (.ci/run installs it)"
        pytest.skip("not run: no chromium on PATH (apt-get install chromium)")
    [sent] = enqueue_from_app(site.env, [["tests.noop", [7301], {}, None]])
    assert _finished_task(site, sent["task_id"]).get("state") == "SUCCESS"
    page = f"http://{_USER}:{_PASSWORD.replace(':', '%3A')}@127.0.0.1:{site.port}/tasks"
    dom = _chromium(chromium, page, "--dump-dom")
    row = dom[dom.index(sent["task_id"]) - 600 : dom.index(sent["task_id"]) + 600]
    assert "tests.noop" in row, row
    assert "[7301]" in row, row
    assert "SUCCESS" in row, row
    _ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = _ARTIFACTS / "flower-tasks.png"
    _chromium(chromium, page, f"--screenshot={screenshot}", "--window-size=1400,900")
    assert screenshot.stat().st_size > 10_000


def _chromium(binary: str, url: str, *action: str) -> str:
    """Run headless Chromium on ``url`` (scripts get 5 s of virtual time) in a process group
    of its own, killed whole should it hang; what it printed on stdout."""
    with tempfile.TemporaryDirectory(prefix="outlast-chromium-") as profile:
        argv = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--virtual-time-budget=5000", *action, url,
        ]  # fmt: skip
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL, start_new_session=True,
        ) as process:  # fmt: skip
            try:
                stdout, stderr = process.communicate(timeout=60)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr[-2000:]
    return stdout
