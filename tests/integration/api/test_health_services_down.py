"""With its Redis stopped, the API answers within its own timeout and says unhealthy.

The test runs a redis-server of its own (the shared one is never stopped), points the API's
Redis, store and broker at it, then stops it by pid: the health report answers 503
``unhealthy`` in the seed's shape, readiness answers 503 ``fail`` as
``application/health+json`` with every component failed, and liveness still answers 200.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from _api_support import READ_TOKEN, auth
from _servers import RedisServer, start_redis_server
from outlast.api import create_app
from outlast.config import Settings
from outlast.config._api import ApiSettings

TIMEOUT = 0.5
SLACK = 1.5  # scheduling on a loaded 2-core machine


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server only this test uses."""
    with start_redis_server() as server:
        yield server


@pytest.fixture
async def down_client(own_redis: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API whose Redis, store and broker are ``own_redis``."""
    settings = ApiSettings(read_tokens=SecretStr(READ_TOKEN), api_check_timeout=TIMEOUT)
    core = Settings(redis_url=own_redis.url, broker_url=own_redis.url, namespace="api-down")
    app = create_app(settings, core=core)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http
    app.state.outlast.close()


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    """The response to ``GET path`` with the read token, and how long it took."""
    started = time.monotonic()
    response = await client.get(path, headers=auth(READ_TOKEN))
    return response, time.monotonic() - started


async def test_stopped_redis_makes_health_unhealthy(
    own_redis: RedisServer, down_client: httpx.AsyncClient
) -> None:
    """Up: 200 healthy; stopped: 503 unhealthy within the timeout, probes as documented."""
    response, _ = await timed_get(down_client, "/family/health/error-handling")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "healthy"

    own_redis.stop()

    response, took = await timed_get(down_client, "/family/health/error-handling")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["error_handling"]["overall_healthy"] is False
    assert took < TIMEOUT + SLACK

    response, took = await timed_get(down_client, "/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/health+json")
    body = response.json()
    assert body["status"] == "fail"
    assert {entry[0]["status"] for entry in body["checks"].values()} == {"fail"}
    assert set(body["checks"]) == {
        "broker:responseTime",
        "redis:responseTime",
        "store:responseTime",
    }
    assert took < TIMEOUT + SLACK

    response, _ = await timed_get(down_client, "/health/live")
    assert response.status_code == 200
