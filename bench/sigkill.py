"""SIGKILL mid-charge, many rounds: how many payments are lost, how many charged twice.

The scenario of ``tests/integration/workers/test_sigkill.py``, scaled up, built from the
same test helpers (``tests/_gateway.py``, ``tests/_payments_app.py``, ``tests/_workers.py``):
the gateway charges each payment's first request on arrival and holds its answer open; a
prefork worker (``-c 4``) takes four payments, the four charges are held, a replacement
worker starts and the first is SIGKILLed, pool and all. A *round* is one payment whose
charge was held when its worker died: only redelivery (late acks, a 10 s visibility
timeout) and idempotency (the dead worker's claim lapses 12 s after its last renewal, then
the same Idempotency-Key is posted again) can finish it.

Prints, for N rounds (default 100): rounds killed mid-charge, payments charged, *lost*
(no charge at the gateway, or no successful result within the deadline), *double-charged*
(a payment charged under more than one key), dead letters, and the time taken.
Target: 0 lost and 0 double-charged.

Run: ``OUTLAST_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/sigkill.py``
(``--rounds N``, a multiple of 4; ``--quick`` for 20). It stops by itself: every wait has
a deadline, every worker it started is stopped by process group, the gateway thread is
stopped and the namespace's keys are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

from _gateway import PaymentGateway  # noqa: E402
from _payments_app import add_payments, fresh_namespace, new_key, payments_env  # noqa: E402
from _servers import delete_keys_with_prefix  # noqa: E402
from _workers import WorkerProcess, celery_worker_command, start_worker  # noqa: E402
from outlast.config import Settings  # noqa: E402
from outlast.store import RedisStore  # noqa: E402
from outlast.workers import create_app  # noqa: E402

REDIS_URL = os.environ.get("OUTLAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CONCURRENCY = 4
VISIBILITY_TIMEOUT = 10
CLAIM_LEASE = 12  # longer than the visibility timeout: redelivered work meets the claim
CYCLE_TIMEOUT = 60.0  # for a fresh worker to take and hold its four charges
FINISH_TIMEOUT = 240.0  # for every payment to finish once the last kill is done


def run_kill_cycles(
    env: dict[str, str], gateway: PaymentGateway, cycles: int
) -> tuple[int, list[WorkerProcess]]:
    """Kill a worker holding CONCURRENCY charges, ``cycles`` times; (cycles done, workers)."""
    command = celery_worker_command(["payments"], concurrency=CONCURRENCY, name="bench-kill")
    workers = [start_worker(env, command)]
    for cycle in range(1, cycles + 1):
        if not gateway.wait_for_held(cycle * CONCURRENCY, timeout=CYCLE_TIMEOUT):
            print(f"  cycle {cycle}: only {len(gateway.held())} charges held; stopping")
            return cycle - 1, workers
        workers.append(start_worker(env, command))  # its sweep restores the dead one's work
        workers[-2].kill()
        if cycle % 5 == 0:
            print(f"  {cycle * CONCURRENCY} rounds killed mid-charge", flush=True)
    return cycles, workers


def outcomes(results: Any, task_ids: list[str], deadline: float) -> dict[str, str]:
    """Each task's final state (SUCCESS/FAILURE), or its last state at the deadline."""
    states: dict[str, str] = {}
    backend = results.backend
    pending = list(task_ids)
    while pending and time.monotonic() < deadline:
        raw = backend.mget([backend.get_key_for_task(t) for t in pending])
        for task_id, value in zip(pending, raw, strict=True):
            meta = backend.decode_result(value) if value else None
            states[task_id] = meta["status"] if meta else "PENDING"
        pending = [t for t in pending if states[t] not in ("SUCCESS", "FAILURE")]
        if pending:
            time.sleep(0.5)
    return states


def dead_letter_count(namespace: str) -> int:
    async def count() -> int:
        store = RedisStore(REDIS_URL, namespace=namespace)
        try:
            return await store.count_dead_letters()
        finally:
            await store.close()

    return asyncio.run(count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="a multiple of 4")
    parser.add_argument("--quick", action="store_true", help="20 rounds")
    options = parser.parse_args()
    rounds = 20 if options.quick else options.rounds
    cycles = -(-rounds // CONCURRENCY)
    rounds = cycles * CONCURRENCY
    print(f"{rounds} rounds: {cycles} kill cycles of a -c {CONCURRENCY} worker; broker {REDIS_URL}")
    started = time.monotonic()
    with fresh_namespace(REDIS_URL) as namespace, PaymentGateway() as gateway:
        gateway.hold_first(1)
        env = payments_env(
            REDIS_URL, namespace, gateway.url,
            broker_visibility_timeout=str(VISIBILITY_TIMEOUT),
            idempotency_claim_lease=str(CLAIM_LEASE),
        )  # fmt: skip
        keys = [new_key() for _ in range(rounds)]
        sent = add_payments(
            env, *({"user_id": k, "amount": 100, "idempotency_key": k} for k in keys)
        )
        results = create_app(Settings(broker_url=REDIS_URL, namespace=namespace))
        workers: list[WorkerProcess] = []
        try:
            done_cycles, workers = run_kill_cycles(env, gateway, cycles)
            states = outcomes(
                results, [s["task_id"] for s in sent], time.monotonic() + FINISH_TIMEOUT
            )
        finally:
            for worker in workers:
                worker.stop()
            results.close()
        report(gateway, keys, [states.get(s["task_id"], "PENDING") for s in sent])
        print(f"kill cycles completed: {done_cycles} of {cycles}")
        print(f"dead letters: {dead_letter_count(namespace)}")
        client = redis.Redis.from_url(REDIS_URL)  # the breaker's keys are hash-tagged
        delete_keys_with_prefix(client, f"outlast:{{{namespace}:")
        client.close()
    print(f"time: {time.monotonic() - started:.0f} s")


def report(gateway: PaymentGateway, keys: list[str], states: list[str]) -> None:
    """Rounds, charges, lost and double-charged payments (see the module docstring)."""
    charges = gateway.charges()
    by_payment = collections.Counter(
        c.request_body.get("user_id") for c in charges.values() if isinstance(c.request_body, dict)
    )
    lost = [
        k for k, state in zip(keys, states, strict=True) if k not in charges or state != "SUCCESS"
    ]
    doubled = [k for k in keys if by_payment[k] > 1]
    print(f"rounds killed mid-charge: {len(gateway.held())}")
    print(f"payments: {len(keys)}, charged: {len(charges)}")
    print(f"lost: {len(lost)}   double-charged: {len(doubled)}   (target 0 and 0)")
    for key in lost[:5]:
        print(f"  lost {key}: requests {gateway.requests(key)}")


if __name__ == "__main__":
    main()
