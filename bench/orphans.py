"""SIGKILL a worker holding 20 messages: how long until the last of them runs again.

The scenario of ``tests/integration/workers/test_orphans.py``, repeated, built from the
same helpers (``tests/_orphan_workers.py``, ``tests/_ops_orphans.py``): a prefork worker
(``-c 4``, prefetch multiplier 5) takes 20 messages of an operation that is not idempotent
and counts its runs; 4 of them run (and never end), 16 wait reserved. A second worker is
started, then, after a random wait of up to one heartbeat interval (so the kill falls
anywhere between two beats), the first is SIGKILLed with its pool. On Redis the orphan
check (default settings: a heartbeat every 2 s lapsing after 6 s, checked by each worker
after each of its beats, the visibility timeout left at 300 s) moves the dead worker's
messages back; on RabbitMQ the broker requeues them when the dead connection closes.

Prints, per broker, the seconds from the SIGKILL to the last message's new run: median and
max over the runs, and how many runs broke "each runs exactly once more" (a message that
did not run again within 60 s, or ran a third time).

``--overhead N`` also times kombu's per-message path (take a message, record it as
unacknowledged, acknowledge it) against the test Redis with kombu's QoS and with the QoS
that records held messages, N messages each, seven rounds alternated.

Run: ``.venv/bin/python bench/orphans.py --runs 20`` (``--brokers redis`` for one broker;
``OUTLAST_BENCH_REDIS_URL``, ``OUTLAST_TEST_AMQP_URL`` to point elsewhere). Every worker it
starts is stopped by process group and the namespace's keys are deleted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))
os.environ.setdefault("OUTLAST_TEST_REDIS_URL", os.environ.get("OUTLAST_BENCH_REDIS_URL", ""))

from _brokers import AMQP_URL, amqp_answers, broker_for_test  # noqa: E402
from _orphan_support import QUEUE, kombu_redis, publish  # noqa: E402
from _orphan_workers import (  # noqa: E402
    CONCURRENCY,
    HELD,
    Runs,
    orphan_env,
    send_runs,
    start_holder,
    start_survivor,
    wait_until_held,
)
from _servers import delete_keys_with_prefix  # noqa: E402
from _workers import fresh_namespace  # noqa: E402
from outlast.config import Settings  # noqa: E402
from outlast.workers import create_app  # noqa: E402
from outlast.workers.orphans._held_deliveries import install  # noqa: E402

REDIS_URL = os.environ.get("OUTLAST_BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"
os.environ["OUTLAST_TEST_REDIS_URL"] = REDIS_URL
RERUN_TIMEOUT = 60.0
PHASE = 2.0  # the default heartbeat interval: worker starts would otherwise fix the phase


def one_run(env: dict[str, str], broker_url: str, namespace: str) -> tuple[float, bool]:
    """Kill a worker holding HELD messages; (seconds to the last new run, each ran once more)."""
    results = create_app(Settings(broker_url=broker_url, redis_url=REDIS_URL, namespace=namespace))
    runs = Runs(REDIS_URL, f"{namespace}:runs:{uuid.uuid4().hex[:8]}")
    try:
        with start_holder(env) as holder:
            task_ids = send_runs(results, runs.prefix)
            wait_until_held(results, runs)
            with start_survivor(env):
                time.sleep(random.uniform(0, PHASE))  # the kill falls anywhere between beats
                killed_at = time.time()
                holder.kill()
                last = runs.wait_rerun_all(killed_at, timeout=RERUN_TIMEOUT)
                for task_id in task_ids:
                    results.AsyncResult(task_id).get(timeout=60)
                started = {i for i, at in runs.starts() if at < killed_at}
                once_more = runs.counts() == [2 if i in started else 1 for i in range(HELD)]
                once_more = once_more and len(started) == CONCURRENCY
        return last - killed_at, once_more
    finally:
        runs.close()
        results.close()


def bench_broker(name: str, count: int) -> tuple[list[float], int]:
    """``count`` runs on broker ``name``: the delays, and how many runs broke once-more."""
    delays: list[float] = []
    broken = 0
    with broker_for_test(name, REDIS_URL) as broker_url, fresh_namespace(REDIS_URL) as namespace:
        env = orphan_env(REDIS_URL, broker_url, namespace)
        for number in range(1, count + 1):
            try:
                delay, once_more = one_run(env, broker_url, namespace)
            except AssertionError as error:
                print(f"  {name} run {number}: {error}", flush=True)
                broken += 1
                continue
            delays.append(delay)
            broken += 0 if once_more else 1
            print(
                f"  {name} run {number}: {delay:.2f} s{'' if once_more else ' BROKEN'}", flush=True
            )
    return delays, broken


def overhead(messages: int, rounds: int = 7) -> None:
    """Per-message take+record+ack time with kombu's QoS and with the held-recording QoS,
    ``rounds`` rounds each, alternated (the best round is the least disturbed by others)."""
    timings: dict[str, list[float]] = {"kombu QoS": [], "held QoS": []}
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"outlast-bench:orphans:{uuid.uuid4().hex[:8]}:"
    try:
        with kombu_redis(REDIS_URL, prefix) as (connection, keys):
            for _ in range(rounds):
                for label in timings:
                    publish(connection, [{"n": n} for n in range(messages)])
                    channel = connection.channel()
                    if label == "held QoS":
                        install(channel, held_key=keys.unprefixed(keys.held("bench")))
                    started = time.perf_counter()
                    for _ in range(messages):
                        channel.basic_get(QUEUE, no_ack=False).ack()
                    timings[label].append((time.perf_counter() - started) / messages * 1e6)
                    channel.close()
    finally:
        delete_keys_with_prefix(client, prefix)
        client.close()
    best, middle = min(timings["kombu QoS"]), statistics.median(timings["kombu QoS"])
    print(f"\nper message: take, record unacknowledged, ack ({messages} x {rounds} rounds)")
    print("| QoS | best µs | median µs | best vs kombu | median vs kombu |")
    print("|---|---|---|---|---|")
    for label, values in timings.items():
        low, median = min(values), statistics.median(values)
        print(
            f"| {label} | {low:.0f} | {median:.0f} | {low / best:.2f}x | {median / middle:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--overhead", type=int, default=0, metavar="N")
    options = parser.parse_args()
    brokers = [b for b in options.brokers.split(",") if b]
    if "rabbitmq" in brokers and not amqp_answers():
        print(f"no RabbitMQ answers at {AMQP_URL}; skipping it")
        brokers.remove("rabbitmq")
    rows = []
    for name in brokers:
        print(f"{name}: {options.runs} runs", flush=True)
        started = time.monotonic()
        delays, broken = bench_broker(name, options.runs)
        rows.append((name, delays, broken, time.monotonic() - started))
    print("\nSIGKILL of a worker holding 20 messages -> last message running again")
    print("| broker | runs | median s | max s | broke once-more | bench time s |")
    print("|---|---|---|---|---|---|")
    for name, delays, broken, took in rows:
        median = f"{statistics.median(delays):.2f}" if delays else "-"
        worst = f"{max(delays):.2f}" if delays else "-"
        print(f"| {name} | {len(delays)} | {median} | {worst} | {broken} | {took:.0f} |")
    if options.overhead:
        overhead(options.overhead)


if __name__ == "__main__":
    main()
