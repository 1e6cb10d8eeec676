"""open_store and the store constructors: the settings choose the backend, and invalid
store settings are refused with a ConfigurationError naming them."""

from __future__ import annotations

import pytest

from outlast.config import Settings
from outlast.errors import ConfigurationError
from outlast.store import DEFAULT_REDIS_URL, MongoStore, RedisStore, open_store
from outlast.store._errors import redact_url


async def test_mongodb_url_selects_the_mongo_store() -> None:
    """OUTLAST_MONGODB_URL set: a MongoStore on that URL's database, in the namespace."""
    store = open_store(
        Settings(mongodb_url="mongodb://app:pw@db.example:27017/family", namespace="prod")
    )
    try:
        assert isinstance(store, MongoStore)
        assert (
            repr(store)
            == "MongoStore('mongodb://app:***@db.example:27017/family', namespace='prod')"
        )
    finally:
        await store.close()


def test_redis_is_the_default_store() -> None:
    """Without a MongoDB URL the store is Redis at OUTLAST_REDIS_URL."""
    store = open_store(Settings(redis_url="redis://cache:6380/2", mongodb_url=None))
    assert isinstance(store, RedisStore)
    assert repr(store) == "RedisStore('redis://cache:6380/2', namespace='default')"


def test_without_any_url_the_store_uses_local_redis() -> None:
    """With neither URL set, the store is Redis on this machine's default port."""
    store = open_store(Settings(redis_url=None, mongodb_url=None))
    assert repr(store) == f"RedisStore({DEFAULT_REDIS_URL!r}, namespace='default')"


@pytest.mark.parametrize("namespace", ["", "has space", "a:b", "{tag}", "$x"])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    """A namespace that could not name keys and collections unambiguously is refused."""
    with pytest.raises(ConfigurationError, match="store namespace"):
        RedisStore(DEFAULT_REDIS_URL, namespace=namespace)


@pytest.mark.parametrize("retention", [0, -1.0, float("inf"), float("nan")])
def test_bad_retentions_are_refused(retention: float) -> None:
    """Retention must be a positive, finite number of seconds."""
    with pytest.raises(ConfigurationError, match="event_retention"):
        RedisStore(DEFAULT_REDIS_URL, event_retention=retention)
    with pytest.raises(ConfigurationError, match="idempotency_retention"):
        RedisStore(DEFAULT_REDIS_URL, idempotency_retention=retention)


def test_passwords_never_appear_in_targets() -> None:
    """Store URLs are shown without their password."""
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("mongodb://u:pw@h/db?x=1") == "mongodb://u:***@h/db?x=1"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
