"""``outlast breaker trip|reset`` against a real worker: the worker's cluster breaker opens
and closes; so does a breaker local to its pool process (by a command it applies); an
unknown name is refused with one line; Redis that does not answer is one line, status 1."""

from __future__ import annotations

import time

from celery import Celery

from _cli_snapshots import published
from _cli_support import outlast, outlast_json
from _servers import free_port
from _workers import WorkerProcess


def seen_by_worker(sender: Celery, name: str, scope: str = "cluster") -> str:
    """The state of breaker ``name`` as the worker sees it (used once if closed)."""
    return str(sender.send_task("tests.cli.breaker", [name, scope], queue="operations")
               .get(timeout=30))  # fmt: skip


def worker_sees(sender: Celery, name: str, state: str, within: float = 10.0) -> bool:
    """Whether the worker sees breaker ``name`` in ``state`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while seen_by_worker(sender, name) != state:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_trip_and_reset_reach_the_worker(
    env: dict[str, str], worker: WorkerProcess, sender: Celery
) -> None:
    """Tripped from the CLI, the worker's cluster breaker opens; reset, it closes."""
    assert seen_by_worker(sender, "cli-inventory") == "closed"
    assert outlast_json(env, "breaker", "trip", "cli-inventory") == {
        "name": "cli-inventory", "state": "open",
    }  # fmt: skip
    assert worker_sees(sender, "cli-inventory", "open")
    reset = outlast(env, "breaker", "reset", "cli-inventory")
    assert (reset.returncode, reset.stdout, reset.stderr) == (
        0, "breaker cli-inventory: closed\n", ""
    )  # fmt: skip
    assert worker_sees(sender, "cli-inventory", "closed")


def test_a_local_breaker_is_moved_in_the_worker_and_an_unknown_one_refused(
    env: dict[str, str], worker: WorkerProcess, sender: Celery
) -> None:
    """A breaker the worker's pool process reports as local opens there when tripped and
    closes when reset (the command its publisher applies); a name nobody knows: one line,
    status 1."""
    assert seen_by_worker(sender, "cli-local", "local") == "closed"
    assert published(env, "cli-local")
    tripped = outlast(env, "breaker", "trip", "cli-local")
    assert (tripped.returncode, tripped.stdout, tripped.stderr) == (
        0, "breaker cli-local: open in 1 of 1 processes (local to each)\n", ""
    )  # fmt: skip
    assert seen_by_worker(sender, "cli-local", "local") == "open"
    assert outlast_json(env, "breaker", "reset", "cli-local") == {
        "name": "cli-local", "scope": "local", "state": "closed", "moved": 1, "processes": 1,
    }  # fmt: skip
    assert seen_by_worker(sender, "cli-local", "local") == "closed"
    unknown = outlast(env, "breaker", "reset", "cli-nobody")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.splitlines() == [
        "outlast breaker reset: no breaker 'cli-nobody' (known: cli-local)"
    ]


def test_redis_down_and_bad_arguments_are_one_line(env: dict[str, str]) -> None:
    """Redis not answering: status 1; a missing name: status 2; one line each."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_REDIS_URL": down}, "breaker", "trip", "cli-inventory")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"outlast breaker trip: Redis at {down} does not answer (OUTLAST_REDIS_URL)"
    ]
    missing = outlast(env, "breaker", "trip")
    assert missing.returncode == 2
    assert len(missing.stderr.splitlines()) == 1
    assert "the following arguments are required: name" in missing.stderr
