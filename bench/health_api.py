"""Health API latency with 100 breakers and 20 bulkheads in the cluster, and with Redis gone.

The bench starts a redis-server of its own on a free loopback port, ``--processes`` plain
processes (``bench/_health_api_publisher.py``) that between them make 100 breakers (20
cluster-scope, used by every process, and 80 local ones shared out) and 20 bulkheads (5
cluster-scope, 15 local) and publish their snapshots as worker processes do, and a real
``outlast api`` (uvicorn) on a free port with an admin token. It then times ``--requests``
sequential GETs of ``/family/health/error-handling`` and of ``/health/ready`` with one httpx
client (after a few untimed warm-up requests): each must answer 200, the report healthy and
listing exactly 100 breakers and 20 bulkheads, the probe ``pass``; target p99 < 50 ms.

Then it freezes the redis-server (SIGSTOP: connections open, no answers) and later kills it
(SIGKILL: connections refused) and times ``--down-requests`` GETs of each endpoint in each
state: each must answer 503 (report ``unhealthy``, probe ``fail``) within the API's check
timeout (``--check-timeout``, the API's ``OUTLAST_API_CHECK_TIMEOUT``) plus ``--margin``.
A request the client gives up on (timeout plus 10 s) counts as hung.

Prints a table with the targets and PASS/FAIL; exits 1 if any row fails.

Run: ``.venv/bin/python bench/health_api.py [--requests 500] [--processes 4]``
(``--cache-seconds 0`` makes the API read every snapshot on every request). Every process
it starts is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

from _servers import RedisServer, free_port, start_redis_server  # noqa: E402

PUBLISHER = BENCH_DIR / "_health_api_publisher.py"
BREAKERS, BULKHEADS = 100, 20
REPORT, READY = "/family/health/error-handling", "/health/ready"
P99_TARGET_MS = 50.0
WARM_UP = 10
HUNG_AFTER = 10.0  # beyond the check timeout: the client stops waiting and calls it hung
START_TIMEOUT = 30.0

Check = Callable[[httpx.Response, float], str | None]


@dataclass(frozen=True, slots=True)
class Timing:
    """How one batch of requests went: each one's seconds and what was wrong with any."""

    label: str
    path: str
    seconds: list[float]
    problems: list[str]

    def percentile(self, percent: int) -> float:
        """The ``percent``-th percentile in milliseconds (inclusive method)."""
        if len(self.seconds) < 2:
            return max(self.seconds, default=0.0) * 1000
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[percent - 1] * 1000


# -- the cluster -------------------------------------------------------------------------


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any OUTLAST_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTLAST_")}
    return {**env, **settings}


def start_publishers(
    env: dict[str, str], count: int, log: IO[bytes]
) -> list[subprocess.Popen[str]]:
    """``count`` publishing processes (stderr to ``log``), returned once each has published."""
    started: list[subprocess.Popen[str]] = []
    for index in range(count):
        command = [sys.executable, str(PUBLISHER), str(index), str(count)]
        started.append(
            subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        )
    for process in started:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"publisher {process.pid} did not start (said {line!r})")
    return started


def stop_publisher(process: subprocess.Popen[str]) -> None:
    """Close its stdin (it withdraws its snapshot and exits), else kill it by pid."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    stop_process(process)
    if process.stdout is not None:
        process.stdout.close()


def stop_process(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """End ``process`` by pid: wait ``grace`` seconds, SIGTERM, then SIGKILL."""
    for ending in (None, process.terminate, process.kill):
        if ending is not None and process.poll() is None:
            ending()
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def start_api(env: dict[str, str], port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``outlast api`` on 127.0.0.1:``port``, returned once ``/health/live`` answers."""
    command = [sys.executable, "-m", "outlast.cli", "api", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1.0).status_code == 200:
                return process
        time.sleep(0.1)
    stop_process(process)
    log.seek(0)
    said = log.read().decode(errors="replace")[-2000:]
    raise RuntimeError(f"outlast api did not answer on port {port}:\n{said}")


def kill_redis(server: RedisServer) -> None:
    """SIGKILL the server by pid (frozen or not) and reap it."""
    if server.running:
        os.kill(server.pid, signal.SIGKILL)
    server.stop()


# -- what each answer must be ------------------------------------------------------------


def report_is_whole(response: httpx.Response, _: float = 0.0) -> str | None:
    """200, healthy, 100 breakers and 20 bulkheads; else what differs."""
    if response.status_code != 200:
        return f"status {response.status_code}"
    body = response.json()
    handling = body["error_handling"]
    counts = (len(handling["circuit_breakers"]), len(handling["bulkheads"]))
    if counts != (BREAKERS, BULKHEADS):
        return f"{counts[0]} breakers and {counts[1]} bulkheads"
    return None if body["status"] == "healthy" else f"report says {body['status']}"


def ready_passes(response: httpx.Response, _: float) -> str | None:
    """200 and ``pass``; else what differs."""
    if response.status_code != 200 or response.json()["status"] != "pass":
        return f"status {response.status_code} {response.json()['status']}"
    return None


def down_answer(path: str, limit: float) -> Check:
    """503 within ``limit`` seconds, the report ``unhealthy`` or the probe ``fail``."""
    expected = "unhealthy" if path == REPORT else "fail"

    def check(response: httpx.Response, took: float) -> str | None:
        said = response.json()["status"]
        if response.status_code != 503 or said != expected:
            return f"status {response.status_code} {said}"
        return None if took <= limit else f"took {took:.3f} s"

    return check


# -- timing ------------------------------------------------------------------------------


def time_requests(client: httpx.Client, label: str, path: str, count: int, check: Check) -> Timing:
    """``count`` sequential GETs of ``path``, each timed and checked."""
    print(f"Redis {label}: {count} x GET {path}", flush=True)
    seconds: list[float] = []
    problems: list[str] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = client.get(path)
        except httpx.TimeoutException:
            seconds.append(time.perf_counter() - started)
            problems.append("hung")
            continue
        seconds.append(time.perf_counter() - started)
        problem = check(response, seconds[-1])
        if problem is not None:
            problems.append(problem)
    return Timing(label, path, seconds, problems)


def warm_up(client: httpx.Client) -> None:
    """A few untimed requests, so connections and first-use setup are not measured."""
    for _ in range(WARM_UP):
        client.get(REPORT)
        client.get(READY)


def wait_for_cluster(client: httpx.Client) -> None:
    """Until the report lists every breaker and bulkhead (publishers have published)."""
    deadline = time.monotonic() + START_TIMEOUT
    problem = report_is_whole(client.get(REPORT))
    while problem is not None and time.monotonic() < deadline:
        time.sleep(0.2)
        problem = report_is_whole(client.get(REPORT))
    if problem is not None:
        raise RuntimeError(f"the report never showed the whole cluster: {problem}")


def measure(client: httpx.Client, server: RedisServer, options: argparse.Namespace) -> list[Timing]:
    """Every batch: Redis up, frozen, then killed."""
    limit = options.check_timeout + options.margin
    wait_for_cluster(client)
    warm_up(client)
    timings = [
        time_requests(client, "up", REPORT, options.requests, report_is_whole),
        time_requests(client, "up", READY, options.requests, ready_passes),
    ]
    os.kill(server.pid, signal.SIGSTOP)
    for path in (REPORT, READY):
        timings.append(
            time_requests(client, "frozen", path, options.down_requests, down_answer(path, limit))
        )
    kill_redis(server)
    for path in (REPORT, READY):
        timings.append(
            time_requests(client, "killed", path, options.down_requests, down_answer(path, limit))
        )
    return timings


# -- the table ---------------------------------------------------------------------------


def passes(timing: Timing) -> bool:
    """No bad answer, and (Redis up) p99 under the target."""
    if timing.label == "up" and timing.percentile(99) >= P99_TARGET_MS:
        return False
    return not timing.problems


def row(timing: Timing, limit: float) -> str:
    """One markdown table row."""
    if timing.label == "up":
        answer = "healthy, 100+20 listed" if timing.path == REPORT else "pass"
        target = f"p99 < {P99_TARGET_MS:.0f} ms, 200 {answer}"
    else:
        target = f"503 within {limit * 1000:.0f} ms"
    figures = " | ".join(f"{timing.percentile(p):.1f}" for p in (50, 95, 99))
    worst = max(timing.seconds, default=0.0) * 1000
    bad = f"{len(timing.problems)}" + (f" ({timing.problems[0]})" if timing.problems else "")
    return (
        f"| Redis {timing.label} | {timing.path} | {len(timing.seconds)} | {figures} | "
        f"{worst:.1f} | {bad} | {target} | {'PASS' if passes(timing) else 'FAIL'} |"
    )


def print_table(timings: list[Timing], options: argparse.Namespace) -> None:
    limit = options.check_timeout + options.margin
    cache = "API default" if options.cache_seconds is None else f"{options.cache_seconds:g} s"
    print(
        f"\n{BREAKERS} breakers, {BULKHEADS} bulkheads over {options.processes} processes; "
        f"check timeout {options.check_timeout:g} s, snapshot cache {cache}; sequential "
        f"requests after {WARM_UP} untimed warm-ups each"
    )
    columns = "requests | p50 ms | p95 ms | p99 ms | max ms | bad | target | result"
    print(f"| Redis | endpoint | {columns} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for timing in timings:
        print(row(timing, limit))


# -- running it --------------------------------------------------------------------------


@contextlib.contextmanager
def cluster(options: argparse.Namespace, token: str) -> Iterator[tuple[httpx.Client, RedisServer]]:
    """Redis, the publishers and the API, all stopped by pid on the way out."""
    with contextlib.ExitStack() as stack:
        server = start_redis_server()
        stack.callback(kill_redis, server)
        env = clean_environment(
            OUTLAST_REDIS_URL=server.url,
            OUTLAST_BROKER_URL=server.url,
            OUTLAST_NAMESPACE=f"bench-health-api-{uuid.uuid4().hex[:8]}",
        )
        log = stack.enter_context(tempfile.TemporaryFile())
        for process in start_publishers(env, options.processes, log):
            stack.callback(stop_publisher, process)
        api_env = {
            **env,
            "OUTLAST_ADMIN_TOKENS": f"bench={token}",
            "OUTLAST_API_CHECK_TIMEOUT": str(options.check_timeout),
        }
        if options.cache_seconds is not None:
            api_env["OUTLAST_API_CACHE_SECONDS"] = str(options.cache_seconds)
        port = free_port()
        stack.callback(stop_process, start_api(api_env, port, log))
        client = stack.enter_context(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=options.check_timeout + HUNG_AFTER,
            )
        )
        yield client, server


def options_from(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests, Redis up")
    parser.add_argument("--down-requests", type=int, default=40, help="each, Redis down")
    parser.add_argument("--processes", type=int, default=4, help="publishing processes")
    parser.add_argument("--check-timeout", type=float, default=1.0, help="API check timeout")
    parser.add_argument("--margin", type=float, default=0.25, help="seconds beyond it allowed")
    parser.add_argument("--cache-seconds", type=float, help="OUTLAST_API_CACHE_SECONDS")
    options = parser.parse_args(argv)
    if not 1 <= options.processes <= BREAKERS - 20:
        parser.error("--processes must be from 1 to 80")
    return options


def main(argv: list[str] | None = None) -> int:
    options = options_from(argv)
    started = time.monotonic()
    with cluster(options, secrets.token_urlsafe(24)) as (client, server):
        timings = measure(client, server, options)
    print_table(timings, options)
    print(f"bench time {time.monotonic() - started:.0f} s")
    return 0 if all(passes(t) for t in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
