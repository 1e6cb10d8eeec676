"""Worker throughput end to end: a no-op ``@operation`` and a payment against a plain task.

One run, one broker, one worker (prefork, ``-c 2``, ``-l WARNING``) consuming the
``operations`` and ``payments`` queues, in a namespace of its own on the bench Redis
(broker, result backend and store). Each row sends N tasks from this process as fast as
it can and measures from the first send to the last result stored (the latest
``date_done`` in the result backend), after a warm-up of 50:

- ``plain Celery task``: ``bench.plain``, a plain Celery task on the same app (same
  acks_late, reject_on_worker_lost, prefetch 1, task events, JSON, result backend). What
  differs: it is sent with ``app.send_task`` (no JSON check, no envelope) and runs without
  Outlast's execution core (no envelope split, no policy, no breaker lookup).
- ``no-op @operation``: ``bench.noop``, the same no-op registered with ``@operation`` and
  sent with ``enqueue``.
- ``idempotent no-op``: ``bench.noop_claimed``, the no-op with
  ``idempotent=True``, each with its own key: what a claim and its completion cost
  (informational; the issue's target names the no-op and the charge).
- ``plain task + charge POST``: ``bench.plain_charge``, a plain Celery task that makes the
  charge's HTTP call (sync ``httpx``, pooled) and nothing else: the floor under a charge.
- ``outlast.payments.charge``: sent with ``payment_queue.add`` (each payment with its own
  idempotency key, so each claims and completes a key in the store), through the
  ``payments_gateway`` breaker (cluster scope) and sync ``httpx``, on the task's thread.
  The row is left out, saying so, where ``outlast.tasks.payments`` does not exist.

Both charge rows post to an instant HTTP gateway (``bench/_instant_gateway.py``) this bench
starts on a free 127.0.0.1 port. Rows run in rounds (backwards every other round); the
report gives each row's best and median tasks/s and the median over rounds of its ratio to
the plain task of the same round, since on a shared 2-core machine rows measured back to
back compare better than rows measured minutes apart. Target: at least 0.85x plain.

Run: ``OUTLAST_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/throughput.py``
(the URL defaults to that value; ``--quick`` for 1000 tasks per row and 2 rounds,
``--tasks N`` and ``--rounds R`` to choose; default 2500 and 4). Every wait has a deadline;
everything it starts (worker, gateway) is stopped by process id before it exits, and its
keys are deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis

BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
sys.path[:0] = [str(BENCH_DIR), str(TESTS_DIR)]

from _servers import delete_keys_with_prefix, free_port  # noqa: E402
from _workers import WorkerProcess, celery_worker_command  # noqa: E402

REDIS_URL = os.environ.get("OUTLAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NAMESPACE = f"bench{uuid.uuid4().hex[:8]}"
GATEWAY_PORT = free_port()
HAS_PAYMENTS = importlib.util.find_spec("outlast.tasks.payments") is not None
ENV = {
    "OUTLAST_BROKER_URL": REDIS_URL,
    "OUTLAST_REDIS_URL": REDIS_URL,
    "OUTLAST_NAMESPACE": NAMESPACE,
    "OUTLAST_PAYMENT_GATEWAY_URL": f"http://127.0.0.1:{GATEWAY_PORT}",
    "OUTLAST_TASK_MODULES": json.dumps(
        ["_throughput_tasks", *(["outlast.tasks.payments"] if HAS_PAYMENTS else [])]
    ),
    "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
}
os.environ.update(ENV)  # the app below is configured from these at import

import _throughput_tasks  # noqa: E402, F401  (registers bench.plain and bench.noop)
from outlast.workers import app, enqueue  # noqa: E402

WARM_UP = 50
TARGET = 0.85
PLAIN = "plain Celery task"
PLAIN_HTTP = "plain task + charge POST"
CLAIMED = "idempotent no-op"
CHARGE = "outlast.payments.charge"


@dataclass(frozen=True, slots=True)
class Row:
    """One kind of task: how to send the ``i``-th one of round ``r`` (returns its id)."""

    label: str
    send: Callable[[int, int], str]


def send_plain(i: int, _: int) -> str:
    return str(app.send_task("bench.plain", args=[i], queue="operations").id)


def send_noop(i: int, _: int) -> str:
    return str(enqueue("bench.noop", i)["task_id"])


def send_noop_claimed(i: int, r: int) -> str:
    return str(enqueue("bench.noop_claimed", i, idempotency_key=f"noop-{r}-{i}")["task_id"])


def send_plain_charge(i: int, r: int) -> str:
    sent = app.send_task("bench.plain_charge", args=[f"user-{i}", 100, f"plain-{r}-{i}"],
                         queue="payments")  # fmt: skip
    return str(sent.id)


def send_charge(i: int, r: int) -> str:
    payments = importlib.import_module("outlast.tasks.payments")
    sent = payments.payment_queue.add(f"user-{i}", 100, idempotency_key=f"pay-{r}-{i}")
    return str(sent["task_id"])


def finished_at(task_ids: list[str], *, deadline: float) -> float:
    """Epoch seconds of the latest result among ``task_ids``, once all are stored."""
    backend = app.backend
    pending = task_ids
    latest = 0.0
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(task_ids)} tasks never finished")
        still: list[str] = []
        for start in range(0, len(pending), 1000):
            chunk = pending[start : start + 1000]
            raw = backend.mget([backend.get_key_for_task(t) for t in chunk])
            for task_id, value in zip(chunk, raw, strict=True):
                meta = backend.decode_result(value) if value else None
                if meta is None or meta["status"] not in ("SUCCESS", "FAILURE"):
                    still.append(task_id)
                    continue
                if meta["status"] == "FAILURE":
                    raise RuntimeError(f"task {task_id} failed: {meta['result']!r}")
                latest = max(latest, datetime.fromisoformat(meta["date_done"]).timestamp())
        pending = still
        if pending:
            time.sleep(0.05)
    return latest


def measure(row: Row, tasks: int, round_no: int) -> tuple[float, float]:
    """(tasks/s end to end, sends/s) for ``tasks`` tasks of ``row``."""
    finished_at(
        [row.send(i, -round_no - 1) for i in range(WARM_UP)], deadline=time.monotonic() + 60
    )
    started = time.time()
    task_ids = [row.send(i, round_no) for i in range(tasks)]
    sent = time.time()
    done = finished_at(task_ids, deadline=time.monotonic() + 60 + tasks / 50)
    return tasks / (done - started), tasks / (sent - started)


@contextlib.contextmanager
def running_worker() -> Iterator[WorkerProcess]:
    """A prefork worker (-c 2) on operations and payments, stopped by process group."""
    command = celery_worker_command(["operations", "payments"], concurrency=2, name="bench")
    command[command.index("INFO")] = "WARNING"  # no log line per task
    log_path = Path(tempfile.mkstemp(prefix="outlast-bench-worker-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **ENV}, start_new_session=True,
        )  # fmt: skip
    worker = WorkerProcess(process, log_path)
    try:
        yield worker
    finally:
        worker.stop()
        log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def instant_gateway() -> Iterator[None]:
    """The instant payment gateway on GATEWAY_PORT, terminated by process id afterwards."""
    process = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "_instant_gateway.py"), str(GATEWAY_PORT)],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the instant gateway did not start")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clean_up() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    # Broker, results and store keys; cluster breaker keys (hash-tagged); probe keys.
    for prefix in (f"outlast:{NAMESPACE}:", f"outlast:{{{NAMESPACE}:", f"{NAMESPACE}:"):
        delete_keys_with_prefix(client, prefix)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1000 tasks per row, 2 rounds")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per row and round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of every row")
    options = parser.parse_args()
    tasks = options.tasks or (1000 if options.quick else 2500)
    rounds = options.rounds or (2 if options.quick else 4)
    rows = [
        Row(PLAIN, send_plain),
        Row("no-op @operation", send_noop),
        Row(CLAIMED, send_noop_claimed),
        Row(PLAIN_HTTP, send_plain_charge),
    ]
    if HAS_PAYMENTS:
        rows.append(Row(CHARGE, send_charge))
    print(f"{tasks} tasks per row and round, {rounds} rounds; prefork -c 2; broker {REDIS_URL}")
    rates: dict[str, list[float]] = {row.label: [] for row in rows}
    try:
        with instant_gateway(), running_worker():
            for round_no in range(rounds):
                # Every other round runs the rows backwards, so a drift in the machine's
                # load does not always favour the same row.
                for row in rows if round_no % 2 == 0 else rows[::-1]:
                    rate, send_rate = measure(row, tasks, round_no)
                    print(f"  round {round_no + 1}: {row.label:<26} {rate:8.0f} tasks/s"
                          f"   (sent at {send_rate:.0f}/s)", flush=True)  # fmt: skip
                    rates[row.label].append(rate)
    finally:
        clean_up()
    report(rates)


def report(rates: dict[str, list[float]]) -> None:
    """Per row: best and median tasks/s, and the median over rounds of its ratio to the
    plain task of the same round (rows measured minutes apart on a shared machine differ
    more than rows measured back to back); the payment also against its bare POST."""
    print(f"\n{'row':<26} {'best/s':>7} {'median/s':>9} {'x plain (median, range)':>26}"
          f"   target >= {TARGET}x plain")  # fmt: skip
    for label, values in rates.items():
        ratios = [value / plain for value, plain in zip(values, rates[PLAIN], strict=True)]
        ratio = statistics.median(ratios)
        verdict = (
            "" if label in (PLAIN, PLAIN_HTTP, CLAIMED) else "ok" if ratio >= TARGET else "BELOW"
        )
        spread = f"{ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{label:<26} {max(values):7.0f} {statistics.median(values):9.0f} {spread:>26}"
              f"   {verdict}")  # fmt: skip
    if CHARGE in rates:
        own = [c / h for c, h in zip(rates[CHARGE], rates[PLAIN_HTTP], strict=True)]
        print(f"{CHARGE} / {PLAIN_HTTP}: {statistics.median(own):.2f}x (median)")
    else:
        print(f"{CHARGE}: not measured (outlast.tasks.payments does not exist)")


if __name__ == "__main__":
    main()
