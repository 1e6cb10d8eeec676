"""The seed's "Error Recovery System" example runs as written with ``from outlast import``,
on the shared ``recovery_manager`` built from settings; its attempts reach the store and its
statistics the health report's ``recovery_system`` section.

It runs in a child process so the shared manager is built from this test's settings alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import redis

from _servers import delete_keys_with_prefix

SEED = """
import asyncio, json
from outlast import ErrorContext, RecoveryStrategy, recovery_manager

calls = []

async def recovery_function():
    calls.append(1)
    if len(calls) < 2:
        raise ConnectionError("still down")
    return "recovered"

async def graceful_degradation_handler():
    return "degraded"

async def handle(error, context):
    # Attempt recovery
    success, result = await recovery_manager.recover_from_error(
        error,
        context,
        RecoveryStrategy.EXPONENTIAL_BACKOFF,
        recovery_function,
        max_attempts=5
    )

    if success:
        return result
    else:
        # Fallback to graceful degradation
        return await graceful_degradation_handler()

async def main():
    context = ErrorContext(operation="load_profile")
    first = await handle(ConnectionError("down"), context)
    calls.clear()
    calls.extend([1] * 100)  # never recovers from here on
    async def broken():
        raise TimeoutError("gone")
    success, last = await recovery_manager.recover_from_error(
        TimeoutError("gone"), context, RecoveryStrategy.IMMEDIATE_RETRY, broken, max_attempts=2
    )
    stored = await recovery_manager.store.count_recovery_attempts(service="load_profile")
    health = {"recovery_system": await recovery_manager.health()}
    await recovery_manager.store.close()
    print(json.dumps({"first": first, "second": [success, type(last).__name__],
                      "stored": stored, "health": health}))

asyncio.run(main())
"""


def test_seed_recovery_example_runs_and_reports(redis_url: str) -> None:
    """The seed snippet recovers, a failure answers (False, error), both are stored and counted."""
    namespace = f"seed-recovery-{uuid.uuid4().hex[:10]}"
    env = os.environ | {"OUTLAST_REDIS_URL": redis_url, "OUTLAST_NAMESPACE": namespace}
    env.pop("OUTLAST_MONGODB_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", SEED], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
    finally:
        client = redis.Redis.from_url(redis_url)
        delete_keys_with_prefix(client, f"outlast:{namespace}:")
        delete_keys_with_prefix(client, f"outlast:{{{namespace}:")
        client.close()
    assert report["first"] == "recovered"
    assert report["second"] == [False, "TimeoutError"]
    assert report["stored"] == 2
    statistics = report["health"]["recovery_system"]["statistics"]
    assert (statistics["total_recoveries"], statistics["successful_recoveries"]) == (2, 1)
    assert statistics["success_rate"] == 0.5
    assert statistics["by_service"]["load_profile"]["total_recoveries"] == 2
