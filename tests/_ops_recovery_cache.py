"""An operation for the worker client-healing test: it counts in the Redis service that
``OUTLAST_RECOVERY_SERVICES`` configures as ``cache``, through the process's shared client,
and answers which client generation and process served it. Workers import this module
through ``OUTLAST_TASK_MODULES``."""

from __future__ import annotations

import os

import redis.exceptions

from outlast import RetryConfig, RetryStrategy
from outlast.config import Jitter
from outlast.recovery._configured import configured_services
from outlast.workers import operation

PATIENT = RetryConfig(
    max_attempts=8,
    initial_delay=0.3,
    backoff_factor=1.5,
    strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
    jitter=Jitter.NONE,
    retryable_exceptions=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
)


@operation("tests.cache_incr", retry=PATIENT)
async def cache_incr(key: str) -> dict[str, int]:
    """INCR ``key`` in the ``cache`` service; the value, client generation and pid."""
    services = configured_services()
    value = await services.client("cache").incr(key)
    service = services.get("cache")
    assert service is not None
    assert service.client is not None
    return {"value": int(value), "generation": service.client.generation, "pid": os.getpid()}
