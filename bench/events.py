"""Error monitoring throughput and cost, in one run.

Prints:

- ``record_error_event`` calls per second into the buffer, in one process (target >= 100,000);
- flush throughput: events per second built and counted into Redis (target >= 20,000), and
  the same with every event also written to the store; both for varied messages and for a
  burst of one repeating error (whose built parts the flusher caches);
- the added cost of monitoring on the ``@handle_errors`` success path (target < 0.5 us);
- with ``--outage``: 5 s of Redis down while events keep coming, then every one counted.

Run: ``.venv/bin/python bench/events.py [--quick] [--outage]`` (Redis at
``$OUTLAST_TEST_REDIS_URL``, else the local default; keys go to a fresh namespace and are
deleted afterwards).
"""

from __future__ import annotations

import os
import sys
import time
import timeit
import uuid
from pathlib import Path

import redis

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

from _servers import delete_keys_with_prefix, start_redis_server  # noqa: E402
from outlast import error_monitor, handle_errors  # noqa: E402
from outlast.errors import ErrorContext, ErrorSeverity  # noqa: E402
from outlast.monitoring import ErrorMonitor  # noqa: E402
from outlast.store import RedisStore  # noqa: E402
from outlast.store.redis._redis import store_prefix  # noqa: E402

QUICK = "--quick" in sys.argv
EVENTS = 20_000 if QUICK else 100_000
STORED_EVENTS = 5_000 if QUICK else 20_000
NUMBER = 50_000 if QUICK else 200_000
REPEAT = 5 if QUICK else 9
REDIS_URL = os.environ.get("OUTLAST_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def errors(count: int) -> list[BaseException]:
    """``count`` raised errors with varied messages (ids, hosts, emails), as in real logs."""
    made: list[BaseException] = []
    templates = (
        "user {i} not found",
        "connect to db{m}.example.com:5432 refused after {i}ms",
        "mail to user{i}@example.com bounced: mailbox full",
        "order {i} failed: card declined, password=hunter{m}",
    )
    for index in range(count):
        try:
            raise ConnectionError(templates[index % 4].format(i=index, m=index % 7))
        except ConnectionError as error:
            made.append(error)
    return made


def burst(count: int) -> list[BaseException]:
    """``count`` raised errors of a burst: one failure repeating from one place (four
    messages), as when a dependency goes down."""
    made: list[BaseException] = []
    messages = [f"connect to db{m}.example.com:5432 refused" for m in range(4)]
    for index in range(count):
        try:
            raise ConnectionError(messages[index % 4])
        except ConnectionError as error:
            made.append(error)
    return made


def monitor(namespace: str, *, store: bool, interval: float) -> ErrorMonitor:
    """A monitor on the bench Redis; ``interval`` 3600 keeps the flusher asleep until flush."""

    def open_store() -> RedisStore:
        return RedisStore(REDIS_URL, namespace=namespace)

    return ErrorMonitor(
        redis_url=REDIS_URL, namespace=namespace, open_store=open_store, store_events=store,
        flush_interval=interval, buffer_size=max(EVENTS, STORED_EVENTS) + 1,
    )  # fmt: skip


def record_and_flush(
    count: int, *, store: bool, repeated: bool = False
) -> tuple[float, float, float]:
    """(record calls per second, flush events per second, flush events per CPU second of
    this process) for ``count`` events (varied messages, or a ``repeated`` burst). The CPU
    figure holds on a loaded machine, where the flusher thread gets only part of a core:
    the caller only polls meanwhile."""
    namespace = f"bench-events-{uuid.uuid4().hex[:10]}"
    made = burst(count) if repeated else errors(count)
    context = ErrorContext(operation="bench.write")
    target = monitor(namespace, store=store, interval=3600)
    try:
        target.record(made[0], context, ErrorSeverity.MEDIUM)
        assert target.flush(timeout=30)  # the flusher thread is up; its first write is done
        started = time.perf_counter()
        for error in made:
            target.record(error, context, ErrorSeverity.MEDIUM)
        recorded = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        assert target.flush(timeout=600), "flush did not finish"
        flushed, flush_cpu = time.perf_counter() - started, time.process_time() - cpu
        total = target.get_monitoring_stats()["total_errors"]
        assert total == count + 1, f"counted {total}, recorded {count + 1}"
    finally:
        target.close()
        cleanup(namespace)
    return count / recorded, count / flushed, count / flush_cpu


def success_path_cost() -> tuple[float, float]:
    """Best microseconds per @handle_errors success call without and with monitoring,
    measured in alternation so that both see the same machine load."""

    @handle_errors(operation_name="bench.ok")
    def ok() -> int:
        return 1

    without, with_monitoring = float("inf"), float("inf")
    for _ in range(REPEAT):
        error_monitor.unlisten()
        without = min(without, timeit.timeit(ok, number=NUMBER) / NUMBER * 1e6)
        error_monitor.listen()
        with_monitoring = min(with_monitoring, timeit.timeit(ok, number=NUMBER) / NUMBER * 1e6)
    error_monitor.close()  # the success counts went to the default namespace: stop there
    return without, with_monitoring


def outage(seconds: float) -> tuple[int, int]:
    """Record through ``seconds`` of Redis down; returns (recorded, counted afterwards)."""
    server = start_redis_server()
    namespace = f"bench-outage-{uuid.uuid4().hex[:10]}"
    target = ErrorMonitor(
        redis_url=server.url, namespace=namespace, store_events=False, flush_interval=0.05
    )
    context = ErrorContext(operation="bench.outage")
    recorded = 0
    try:
        server.stop()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for error in errors(500):
                target.record(error, context)
            recorded += 500
            time.sleep(0.05)
        server = start_redis_server(server.port)
        assert target.flush(timeout=60)
        return recorded, target.get_monitoring_stats()["total_errors"]
    finally:
        target.close(timeout=1)
        server.stop()


def cleanup(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        delete_keys_with_prefix(client, f"outlast:{{{namespace}:")
        delete_keys_with_prefix(client, store_prefix(namespace))
    finally:
        client.close()


def main() -> None:
    calls, flushed, per_cpu = record_and_flush(EVENTS, store=False)
    print(f"record_error_event into the buffer: {calls:>10,.0f} calls/s   (target >= 100,000)")
    print(f"flush into Redis (counters):        {flushed:>10,.0f} events/s (target >= 20,000)"
          f"; {per_cpu:,.0f} per CPU second")  # fmt: skip
    _, stored, stored_cpu = record_and_flush(STORED_EVENTS, store=True)
    print(f"flush into Redis and the store:     {stored:>10,.0f} events/s"
          f"; {stored_cpu:,.0f} per CPU second")  # fmt: skip
    _, burst_flushed, burst_cpu = record_and_flush(EVENTS, store=False, repeated=True)
    print(f"same, a burst of one error (counters): {burst_flushed:>7,.0f} events/s"
          f"; {burst_cpu:,.0f} per CPU second")  # fmt: skip
    _, burst_stored, burst_stored_cpu = record_and_flush(STORED_EVENTS, store=True, repeated=True)
    print(f"same, a burst of one error (store):    {burst_stored:>7,.0f} events/s"
          f"; {burst_stored_cpu:,.0f} per CPU second")  # fmt: skip
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    without, with_monitoring = success_path_cost()
    added = with_monitoring - without
    print(
        f"@handle_errors success path: {without:.2f} us without monitoring, "
        f"{with_monitoring:.2f} us with: +{added:.2f} us (target < 0.5 us)"
    )
    if "--outage" in sys.argv:
        recorded, counted = outage(5.0)
        print(f"5 s Redis outage: {recorded:,} recorded, {counted:,} counted after it returned")


if __name__ == "__main__":
    main()
