"""``outlast dev --demo`` end to end: it plays its story to the summary, whose counts come from
the gateway's own ledger and the store, and leaves no process or key of its own behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _dev_process import OUTLAST, DevProcess, group_gone, process_gone
from _servers import free_port
from outlast.cli import main

_SPEED = "4"
_DEMO_TIMEOUT = 90.0
_PAYMENTS = 11


def _start_demo(env: dict[str, str], tmp_path: Path) -> DevProcess:
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(OUTLAST), "dev", "--demo", "--speed", _SPEED, "--log-dir", str(tmp_path / "logs")],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, **env}, start_new_session=True,
        )  # fmt: skip
    return DevProcess(process, output)


@pytest.fixture
def demo_env() -> dict[str, str]:
    """Settings an application might have that the demo must not use for its own parts."""
    return {
        "OUTLAST_SMTP_USERNAME": "app-user",
        "OUTLAST_SMTP_PASSWORD": "app-secret",
        "OUTLAST_MONGODB_URL": f"mongodb://127.0.0.1:{free_port()}/nothing-listens",
    }


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[DevProcess]]:
    """Demos a test starts, each cleaned up by process group whatever the outcome."""
    demos: list[DevProcess] = []
    yield demos
    for demo in demos:
        demo.cleanup()


def _summary(output: str) -> dict[str, str]:
    """The summary's lines, by their name (``payments charged`` -> ``11 (11 exactly...``)."""
    lines = output.split("summary:\n", 1)[1].splitlines()
    pairs = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines)
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def _first_number(text: str) -> int:
    return int(text.split()[0].rstrip(";,"))


def _all_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    left = pids
    while left and time.monotonic() < deadline:
        left = [pid for pid in pids if not (process_gone(pid) and group_gone(pid))]
        time.sleep(0.05)
    return left


def test_the_demo_runs_to_its_summary_with_every_payment_charged_once(
    tmp_path: Path, demo_env: dict[str, str], started: list[DevProcess]
) -> None:
    """On an embedded Redis, the demo ends (status 0) with 11 payments charged exactly once by
    the gateway's ledger, the breaker opened, one dead letter replayed and both emails
    delivered; every process it started is gone."""
    env = {**demo_env, "OUTLAST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    demo = _start_demo(env, tmp_path)
    started.append(demo)
    assert demo.process.wait(timeout=_DEMO_TIMEOUT) == 0, demo
    summary = _summary(demo.output())
    assert summary["payments queued"] == str(_PAYMENTS), demo
    charged = f"{_PAYMENTS} (each by one accepted request; 0 repeats), by the gateway's own ledger"
    assert summary["payments charged"] == charged, demo
    assert summary["dead letters"] == "1, replayed 1", demo
    assert summary["emails delivered"].startswith("2 of 2"), demo
    assert _first_number(summary["breaker opened"]) >= 1, demo
    assert _first_number(summary["gateway refusals"]) >= 2 * 2 + 3, demo  # flaky, then trips
    assert "embedded" in demo.line("redis"), demo
    assert _all_gone(demo.printed_pids()) == [], demo


def test_a_demo_stopped_midway_says_so_and_leaves_nothing_behind(
    tmp_path: Path, redis_url: str, demo_env: dict[str, str], started: list[DevProcess]
) -> None:
    """SIGINT during the outage ends the demo with status 1 and a reason; its workers and
    beat are gone and the keys of its namespace are deleted from the Redis it used."""
    demo = _start_demo({**demo_env, "OUTLAST_REDIS_URL": redis_url}, tmp_path)
    started.append(demo)
    demo.wait_for("== 2/4 the gateway goes down", _DEMO_TIMEOUT)
    namespace = demo.line("namespace").split()[-1]
    assert demo.stop(signal.SIGINT) == 1, demo
    assert "outlast dev --demo: stopped before the end" in demo.output()
    assert _all_gone(demo.printed_pids()) == [], demo
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"outlast:{namespace}:*")) == []
    finally:
        client.close()


@pytest.mark.parametrize("speed", ["0", "11", "fast"])
def test_a_speed_out_of_range_is_named_in_one_line(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--speed`` outside 0.25..10 (or not a number) ends with status 2 naming the value."""
    with pytest.raises(SystemExit) as stopped:
        main(["dev", "--demo", "--speed", speed])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"{speed!r} is not a number from 0.25 to 10.0" in error
    assert len(error.strip().splitlines()) == 1
