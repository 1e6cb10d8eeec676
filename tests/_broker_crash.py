"""The broker-crash scenario: a worker's Redis is SIGKILLed mid-run and comes back.

One redis-server this module owns (a free port, a directory of its own, append-only with
``appendfsync always``) is broker, result backend and store of one prefork worker
(``-c 2``) that charges payments at a gateway answering each charge after ``delay``
seconds. ``run_broker_crash`` enqueues the first payments, waits until ``crash_after`` of
them are charged, SIGKILLs the redis-server, keeps it down, restarts it on the same port
and files, leaves the worker running, enqueues more payments and waits until every payment
is charged or a deadline passes. It returns what the gateway saw: payments charged once,
lost (never charged), charged twice, and how long after the restart the first charge came.

Used by ``bench/broker_crash.py`` (many runs) and the suite's crash test (one run). Every
process it starts (redis-server, worker, optional beat) is stopped by its id; the
redis-server's directory is removed afterwards.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from _gateway import PaymentGateway
from _payments_app import add_payments, new_key, payments_env
from _servers import find_redis_server, free_port
from _workers import WorkerProcess, celery_worker_command, start_worker

__all__ = [
    "CrashOutcome",
    "DurableRedis",
    "SlowGateway",
    "busy_core",
    "run_broker_crash",
]

_HOST = "127.0.0.1"
_START_TIMEOUT = 15.0


class DurableRedis:
    """A redis-server that fsyncs every write to its append-only file and can be SIGKILLed
    and started again on the same port and files."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="outlast-durable-redis-"))
        self.port = free_port()
        self.url = f"redis://{_HOST}:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> DurableRedis:
        """Start the server on this port and directory; return once it answers."""
        config = self.directory / "redis.conf"
        config.write_text(self._config())
        self._process = subprocess.Popen(
            [find_redis_server(), str(config)], cwd=self.directory, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + _START_TIMEOUT
        while self._answering_pid() != self._process.pid:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"redis-server did not start:\n{self.log()}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL the server (a crash): nothing is flushed beyond what was fsynced."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> None:
        """Kill the server if it runs and remove its directory."""
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "redis.log").read_text(errors="replace")
        return ""

    def _config(self) -> str:
        return "\n".join(
            [
                f"port {self.port}",
                f"bind {_HOST}",
                f'dir "{self.directory}"',
                f'logfile "{self.directory / "redis.log"}"',
                'save ""',
                "appendonly yes",
                "appendfsync always",
                "daemonize no",
                "",
            ]
        )

    def _answering_pid(self) -> int | None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.3, socket_timeout=0.3)
        try:
            return int(client.info("server")["process_id"])
        except (redis.RedisError, OSError):
            return None
        finally:
            client.close()


class SlowGateway(PaymentGateway):
    """The test gateway, answering every charge after ``delay`` seconds."""

    def __init__(self, *, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def answer(self, key: str | None, raw: bytes) -> Any:
        time.sleep(self.delay)
        return super().answer(key, raw)


@contextlib.contextmanager
def busy_core() -> Iterator[int]:
    """A process of our own spinning on one core (a loaded host); killed by pid after."""
    spinner = subprocess.Popen(
        [sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield spinner.pid
    finally:
        spinner.kill()
        spinner.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class CrashOutcome:
    """What one run of the scenario ended with (times in seconds)."""

    payments: int
    charged_once: int
    lost: list[str]
    double_charged: list[str]
    resumed_after: float | None
    """From the restart to the first charge request that arrived after it; None if none."""
    worker_alive: bool
    resent: int = 0
    """Payments the ledger sweep sent again (the worker's log says so)."""
    watchdog_events: int = 0
    """Recovery actions of the worker's watchdog."""
    diagnosis: dict[str, str] = field(default_factory=dict)
    """Where each lost payment's message is: queue, unacked, result state."""

    @property
    def ok(self) -> bool:
        return not self.lost and not self.double_charged and self.resumed_after is not None


def run_broker_crash(
    *,
    namespace: str,
    before: int = 60,
    crash_after: int = 15,
    after: int = 20,
    down_for: float = 5.0,
    delay: float = 0.05,
    deadline: float = 60.0,
    with_beat: bool = False,
    settings: dict[str, str] | None = None,
) -> CrashOutcome:
    """Run the scenario once on a fresh redis-server (see the module docstring)."""
    server = DurableRedis().start()
    try:
        with SlowGateway(delay=delay) as gateway:
            env = payments_env(
                server.url, namespace, gateway.url, broker_visibility_timeout="10",
                **(settings or {}),
            )  # fmt: skip
            keys = [new_key() for _ in range(before + after)]
            queues = ["payments", "monitoring"] if with_beat else ["payments"]
            command = celery_worker_command(queues, concurrency=2, name="crash")
            if with_beat:  # the ledger sweep runs on beat, its task on the monitoring queue
                command += ["-B", "-s", str(server.directory / "beat-schedule")]
            with start_worker(env, command) as worker:
                resumed = _crash_while_charging(
                    server, gateway, env, keys, before=before, crash_after=crash_after,
                    down_for=down_for, deadline=deadline,
                )  # fmt: skip
                alive = worker.running
                outcome = _outcome(gateway, keys, resumed, alive, worker.log())
                if outcome.lost:
                    outcome = _diagnosed(outcome, server.url, namespace, worker)
            return outcome
    finally:
        server.stop()


def _crash_while_charging(
    server: DurableRedis,
    gateway: PaymentGateway,
    env: dict[str, str],
    keys: list[str],
    *,
    before: int,
    crash_after: int,
    down_for: float,
    deadline: float,
) -> float:
    """Enqueue, crash the Redis, restart it, enqueue the rest, wait; the restart's time."""
    _add(env, keys[:before])
    if not gateway.wait_until(lambda: len(gateway.charges()) >= crash_after, timeout=60):
        raise RuntimeError(f"only {len(gateway.charges())} charged before the crash")
    server.kill()
    time.sleep(down_for)
    server.start()
    restarted = time.monotonic()
    _add(env, keys[before:])
    gateway.wait_until(lambda: len(gateway.charges()) >= len(keys), timeout=deadline)
    return restarted


def _add(env: dict[str, str], keys: list[str]) -> None:
    add_payments(env, *({"user_id": k, "amount": 100, "idempotency_key": k} for k in keys))


def _outcome(
    gateway: PaymentGateway, keys: list[str], restarted: float, alive: bool, log: str
) -> CrashOutcome:
    charges = gateway.charges()
    by_payment = collections.Counter(
        c.request_body.get("user_id") for c in charges.values() if isinstance(c.request_body, dict)
    )
    later = [r.at for r in gateway.requests() if r.at >= restarted]
    return CrashOutcome(
        payments=len(keys),
        charged_once=sum(1 for k in keys if by_payment[k] == 1),
        lost=[k for k in keys if by_payment[k] == 0],
        double_charged=[k for k in keys if by_payment[k] > 1],
        resumed_after=min(later) - restarted if later else None,
        worker_alive=alive,
        resent=log.count("lost by the broker before it started; sent again"),
        watchdog_events=log.count("watchdog: worker="),
    )


def _diagnosed(
    outcome: CrashOutcome, url: str, namespace: str, worker: WorkerProcess
) -> CrashOutcome:
    """Say where each lost payment's message is (payment keys are in its arguments)."""
    client = redis.Redis.from_url(url)
    prefix = f"outlast:{namespace}:"
    try:
        queued = b"".join(_raw(client.lrange(f"{prefix}payments", 0, -1)))
        unacked = b"".join(_raw(client.hvals(f"{prefix}unacked")))
        found = {
            key: f"in queue: {key.encode() in queued}, in unacked: {key.encode() in unacked}, "
            f"queue length {client.llen(f'{prefix}payments')}"
            for key in outcome.lost
        }
    except (redis.RedisError, OSError) as error:
        found = dict.fromkeys(outcome.lost, f"unknown ({error})")
    finally:
        client.close()
    found["worker log tail"] = worker.log()[-20000:]
    return CrashOutcome(
        payments=outcome.payments, charged_once=outcome.charged_once, lost=outcome.lost,
        double_charged=outcome.double_charged, resumed_after=outcome.resumed_after,
        worker_alive=outcome.worker_alive, resent=outcome.resent,
        watchdog_events=outcome.watchdog_events, diagnosis=found,
    )  # fmt: skip


def _raw(values: Any) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]
