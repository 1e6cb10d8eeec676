"""Beat processes: only the one holding the leader lease sends the schedule.

Real ``celery -A outlast.workers beat`` and ``outlast beat`` processes on the test Redis, in
a namespace of their own, with a 0.2 s schedule and a 2 s lease. Who sent each message is
read from the broker itself: a message's ``origin`` header names the sending process id,
and the Redis queue keeps messages in the order they were published."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
import redis

from _servers import start_redis_server
from _workers import WorkerProcess

LEASE_TTL = 2.0
SCHEDULE_INTERVAL = 0.2
SENDING = "Scheduler: Sending due task"
LEADER = "beat: holds the leader lease"
STANDBY = "beat: standby"
UNREACHABLE = "beat: cannot reach Redis"

CELERY_BEAT = [sys.executable, "-m", "celery", "-A", "outlast.workers", "beat", "-l", "INFO"]
OUTLAST_BEAT = [
    sys.executable, "-c", "import sys; from outlast.cli import main; sys.exit(main())",
    "beat", "-l", "INFO",
]  # fmt: skip


def beat_env(broker_url: str, lease_redis_url: str, namespace: str) -> dict[str, str]:
    """A beat's environment: a fast schedule and a short lease."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": lease_redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_RETRY_RELEASE_INTERVAL": str(SCHEDULE_INTERVAL),
        "OUTLAST_BEAT_LEASE_TTL": str(LEASE_TTL),
    }


def launch(command: Sequence[str], env: dict[str, str], tmp_path: Path) -> WorkerProcess:
    """Start a beat in its own process group, working in ``tmp_path/work`` (which stays
    empty: no schedule file) and logging to a file of ``tmp_path``."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    log_path = Path(tempfile.mkstemp(prefix="beat-", suffix=".log", dir=tmp_path)[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=workdir,
            start_new_session=True,
        )
    return WorkerProcess(process, log_path)


def wait_for(what: str, check: Callable[[], bool], timeout: float, *beats: WorkerProcess) -> None:
    """Poll ``check`` until it holds; fail with the beats' logs otherwise."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            logs = "\n\n".join(beat.log() for beat in beats)
            raise AssertionError(f"not within {timeout}s: {what}\n{logs}")
        time.sleep(0.05)


def senders(client: redis.Redis, queue: str) -> list[int]:
    """The process id of the sender of each message in ``queue``, oldest first."""
    raw = client.lrange(queue, 0, -1)[::-1]  # kombu pushes on the left
    origins = [json.loads(message)["headers"]["origin"] for message in raw]
    return [int(origin.split("@")[0].removeprefix("gen")) for origin in origins]


def logged_at(log: str, text: str) -> float:
    """The epoch time of the first log line containing ``text``."""
    line = next(line for line in log.splitlines() if text in line)
    stamp = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", line)
    assert stamp is not None, line
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def knows_role(beat: WorkerProcess) -> bool:
    """Whether ``beat`` has logged that it leads or stands by."""
    log = beat.log()
    return LEADER in log or STANDBY in log


def group_is_gone(pid: int) -> bool:
    """Whether no process of the process group ``pid`` is left."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def beats() -> Iterator[list[WorkerProcess]]:
    """The beats a test starts; each one's whole process group is stopped after it."""
    started: list[WorkerProcess] = []
    yield started
    for beat in started:
        beat.stop()


def test_one_beat_sends_and_a_standby_takes_over_when_it_is_killed(
    redis_url: str, namespace: str, beats: list[WorkerProcess], tmp_path: Path
) -> None:
    """Two beats started together: only the leader's messages reach the broker; after a
    SIGKILL of the leader the other sends within about one lease time, never interleaved
    with the dead leader's; a clean stop gives the lease back and leaves nothing running."""
    env = beat_env(redis_url, redis_url, namespace)
    beats += [launch(CELERY_BEAT, env, tmp_path), launch(OUTLAST_BEAT, env, tmp_path)]
    client = redis.Redis.from_url(redis_url)
    queue, lease_key = f"outlast:{namespace}:monitoring", f"outlast:{{{namespace}:beat:leader}}"
    wait_for("both beats know their role", lambda: all(map(knows_role, beats)), 60, *beats)
    leaders = [beat for beat in beats if LEADER in beat.log()]
    assert len(leaders) == 1, [beat.log() for beat in beats]
    leader, standby = leaders[0], next(beat for beat in beats if beat is not leaders[0])

    wait_for("5 messages sent", lambda: client.llen(queue) >= 5, 20, *beats)
    leader.kill()
    killed_at = time.time()
    before_kill = senders(client, queue)
    assert set(before_kill) == {leader.pid}
    assert SENDING not in standby.log()

    wait_for("the standby sends", lambda: standby.pid in senders(client, queue), 20, standby)
    taken_over_in = logged_at(standby.log(), SENDING) - killed_at
    assert taken_over_in < LEASE_TTL + LEASE_TTL / 3 + 2.0, standby.log()
    sent = senders(client, queue)
    first_of_standby = sent.index(standby.pid)
    assert set(sent[:first_of_standby]) == {leader.pid}
    assert set(sent[first_of_standby:]) == {standby.pid}

    standby.stop()
    assert client.exists(lease_key) == 0  # given back on a clean stop
    assert "Traceback" not in standby.log()
    assert all(group_is_gone(beat.pid) for beat in beats)
    assert list((tmp_path / "work").iterdir()) == []  # no schedule file written
    client.close()


def test_a_beat_that_cannot_reach_redis_sends_nothing_and_resumes_after(
    redis_url: str, namespace: str, beats: list[WorkerProcess], tmp_path: Path
) -> None:
    """With its lease Redis stopped the leader keeps running, logs it and sends nothing;
    once that Redis is back it leads and sends again."""
    client = redis.Redis.from_url(redis_url)
    queue = f"outlast:{namespace}:monitoring"
    with start_redis_server() as lease_redis:
        beats.append(launch(CELERY_BEAT, beat_env(redis_url, lease_redis.url, namespace), tmp_path))
        beat = beats[0]
        wait_for("3 messages sent", lambda: client.llen(queue) >= 3, 60, beat)
        port = lease_redis.port
        lease_redis.stop()
        wait_for("the outage is logged", lambda: UNREACHABLE in beat.log(), 20, beat)
        sent_before = client.llen(queue)
        time.sleep(1.5)  # seven schedule intervals
        assert client.llen(queue) == sent_before
        assert beat.log().split(UNREACHABLE, 1)[1].count(SENDING) == 0
        assert beat.running
    with start_redis_server(port) as lease_redis_again:
        wait_for("sending resumes", lambda: client.llen(queue) > sent_before, 20, beat)
        assert beat.log().count(LEADER) == 2
        beat.stop()
        assert lease_redis_again.running
    assert "Traceback" not in beat.log()
    client.close()
