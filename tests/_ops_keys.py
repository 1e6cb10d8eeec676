"""An operation that records the idempotency key it runs under, for the replay tests.

Workers import it through ``OUTLAST_TASK_MODULES``; each call appends the key of its
envelope to ``{prefix}:keys`` in the test Redis.
"""

from __future__ import annotations

import os

import redis
from celery import current_task

from outlast.workers import operation
from outlast.workers.execution._envelope import ENVELOPE_KEY


@operation("tests.keyed", idempotent=True)
def keyed(prefix: str) -> str:
    """Record this call's idempotency key; return it."""
    key = str(current_task.request.kwargs[ENVELOPE_KEY]["key"])
    with redis.Redis.from_url(os.environ["OUTLAST_TEST_REDIS_URL"]) as client:
        client.rpush(f"{prefix}:keys", key)
        client.expire(f"{prefix}:keys", 600)
    return key
