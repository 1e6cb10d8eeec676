"""Fixtures for the health API tests: a fresh namespace, settings with one token of each
kind, the application, and an HTTP client that calls it in process (httpx's ASGI transport).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from fastapi import FastAPI
from pydantic import SecretStr

from _api_support import ADMIN_TOKEN, HASHED_TOKEN, READ_TOKEN
from _servers import delete_keys_with_prefix
from outlast.api import create_app
from outlast.config import Settings, reload_settings
from outlast.config._api import ApiSettings
from outlast.store.redis._redis import store_prefix


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace no other test uses; its keys are deleted afterwards."""
    name = f"api-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        delete_keys_with_prefix(client, f"outlast:{{{name}:")
        delete_keys_with_prefix(client, store_prefix(name))
    finally:
        client.close()


@pytest.fixture
def api_settings() -> ApiSettings:
    """An admin token named ``ops``, a hashed admin token, and a read-only token."""
    digest = hashlib.sha256(HASHED_TOKEN.encode()).hexdigest()
    return ApiSettings(
        admin_tokens=SecretStr(f"ops={ADMIN_TOKEN},sha256:{digest}"),
        read_tokens=SecretStr(f"viewer={READ_TOKEN}"),
        api_check_timeout=1.0,
    )


@pytest.fixture
def core_settings(redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Core settings on the test Redis and namespace (the environment says the same)."""
    monkeypatch.setenv("OUTLAST_REDIS_URL", redis_url)
    monkeypatch.setenv("OUTLAST_NAMESPACE", namespace)
    reload_settings()
    return Settings(redis_url=redis_url, broker_url=redis_url, namespace=namespace)


@pytest.fixture
def app(api_settings: ApiSettings, core_settings: Settings) -> FastAPI:
    """The application on the test settings."""
    return create_app(api_settings, core=core_settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of ``app``, in this process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http
    app.state.outlast.close()
