"""The README's install line alone (``pip install`` of the project, no dev extra) gives a
working worker system: a worker starts, an application enqueues, and the work runs.

The clean virtualenv holds only what ``pyproject.toml`` declares for users, at the versions of
``requirements/dev.lock`` (used as constraints, so the run is reproducible); the dev extra,
which used to bring kombu's missing ``packaging`` along by accident, is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _workers import fresh_namespace, start_worker

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"

_OPERATIONS = '''
"""Operations for the clean-install test: one that records that it ran."""

import os

import redis

from outlast import operation


@operation("cleaninstall.mark", queue="operations")
def mark(key: str) -> str:
    """Set ``key`` in the test Redis, so the test sees the work ran."""
    redis.Redis.from_url(os.environ["OUTLAST_REDIS_URL"]).set(key, "ran")
    return key
'''

_ENQUEUE = """
import sys

import cleaninstall_ops  # noqa: F401  (registers the operation, as an app's import would)
from outlast import enqueue

print(enqueue("cleaninstall.mark", sys.argv[1])["status"])
"""


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the project installed as a user would, without the dev extra."""
    root = tmp_path_factory.mktemp("clean-venv")
    venv.create(root / "venv", with_pip=False)
    python = root / "venv" / "bin" / "python"
    install = [str(UV), "pip", "install", "--quiet", "--python", str(python)]
    done = subprocess.run(
        [*install, "-c", str(REPO / "requirements" / "dev.lock"), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "venv" / "bin"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An application folder holding one operations module."""
    (tmp_path / "cleaninstall_ops.py").write_text(textwrap.dedent(_OPERATIONS))
    (tmp_path / "enqueue_one.py").write_text(textwrap.dedent(_ENQUEUE))
    return tmp_path


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


def test_dev_tools_are_not_installed(clean_venv: Path) -> None:
    """The clean virtualenv really lacks the dev extra (pytest), so it proves the user's set."""
    done = subprocess.run([clean_venv / "python", "-c", "import pytest"], check=False)
    assert done.returncode != 0


def test_worker_runs_enqueued_work_with_only_the_user_install(
    clean_venv: Path, app_dir: Path, namespace: str, redis_url: str
) -> None:
    """`outlast worker` starts and runs work an app enqueues, with only the user's install."""
    env = {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["cleaninstall_ops"]',
        "PYTHONPATH": str(app_dir),
        "PATH": f"{clean_venv}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(clean_venv / "outlast"), "worker", "-Q", "operations", "-c", "1"]
    key = f"outlast:{namespace}:clean-install-ran"
    with start_worker(env, command) as worker:
        sent = subprocess.run(
            [clean_venv / "python", app_dir / "enqueue_one.py", key],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.split() == ["queued"], sent.stderr
        assert _wait_for_key(redis_url, key), worker.log()


def test_flower_without_the_local_extra_says_how_to_install_it(clean_venv: Path) -> None:
    """Without the local extra, `outlast flower` names the extra to install (status 2)."""
    done = subprocess.run(
        [clean_venv / "outlast", "flower"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "pip install 'outlast[local]'" in done.stderr
    assert "Traceback" not in done.stderr


def _wait_for_key(redis_url: str, key: str, timeout: float = 30.0) -> bool:
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if client.get(key) == b"ran":
                return True
            time.sleep(0.05)
        return False
    finally:
        client.close()
