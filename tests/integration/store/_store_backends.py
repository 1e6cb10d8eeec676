"""The backends of the store contract suite, and a ``Backend`` that builds and inspects
stores of one of them.

``BACKENDS``: ``redis`` (the real test Redis), ``mongomock`` (``mongomock-motor``, since no
MongoDB server can be installed here) and ``mongodb`` (a real MongoDB), which exists only
when ``OUTLAST_TEST_MONGODB_URL`` is set: the parameter is generated conditionally, never
skipped. ``redis-sync`` (for the idempotency contract only) is the Redis store with its
claims made through the workers' sync client, ``RedisSyncClaims``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import redis
from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient

from _servers import delete_keys_with_prefix
from outlast.store import IdempotencyClaim, MongoStore, RedisStore, Store
from outlast.testing import FakeClock

__all__ = ["BACKENDS", "MONGODB_URL_ENV", "Backend", "SyncClaimsStore"]

MONGODB_URL_ENV = "OUTLAST_TEST_MONGODB_URL"
BACKENDS = ["redis", "mongomock", *(["mongodb"] if os.environ.get(MONGODB_URL_ENV) else [])]


class Backend:
    """Builds stores of one backend that share one namespace, and looks inside them."""

    def __init__(self, name: str, *, namespace: str, redis_url: str, clock: FakeClock) -> None:
        self.name = name
        self.namespace = namespace
        self.redis_url = redis_url
        self.clock = clock
        self.stores: list[Store] = []
        self._mock: Any = AsyncMongoMockClient() if name == "mongomock" else None
        self._mongo: AsyncMongoClient[dict[str, Any]] | None = None

    def store(self, **options: Any) -> Store:
        """A new store (its own client) on the test's namespace; ``options`` go to it."""
        options.setdefault("clock", self.clock)
        built: Store
        if self.name == "redis":
            built = RedisStore(self.redis_url, namespace=self.namespace, **options)
        elif self.name == "redis-sync":
            built = SyncClaimsStore(self.redis_url, namespace=self.namespace, **options)
        else:
            built = MongoStore(self._database(), namespace=self.namespace, **options)
        self.stores.append(built)
        return built

    def _database(self) -> Any:
        if self._mock is not None:
            return self._mock["outlast_test"]
        if self._mongo is None:
            self._mongo = AsyncMongoClient(os.environ[MONGODB_URL_ENV], tz_aware=True)
        return self._mongo.get_default_database("outlast_test")

    async def expiry(self, kind: str, key: str) -> float | None:
        """Seconds until the backend itself deletes record ``key`` of ``kind`` (None: never
        or not stored). Redis: the key's TTL. MongoDB: ``expire_at`` minus now, and only if
        the collection has a TTL index on it."""
        if self.name.startswith("redis"):
            return self._redis_ttl(kind, key)
        collection = self._database()[f"outlast.{self.namespace}.{kind}"]
        indexes = await collection.index_information()
        ttl_fields = [
            spec["key"][0][0] for spec in indexes.values() if "expireAfterSeconds" in spec
        ]
        document = await collection.find_one({"_id": key})
        if "expire_at" not in ttl_fields or document is None or "expire_at" not in document:
            return None
        expire_at: datetime = document["expire_at"]
        if expire_at.tzinfo is None:
            expire_at = expire_at.replace(tzinfo=UTC)
        return expire_at.timestamp() - self.clock.time()

    def _redis_ttl(self, kind: str, key: str) -> float | None:
        suffix = f"idempotency:{key}" if kind == "idempotency" else f"{kind}:item:{key}"
        client = redis.Redis.from_url(self.redis_url)
        try:
            milliseconds = int(client.pttl(f"outlast:{self.namespace}:store:{suffix}"))
        finally:
            client.close()
        return None if milliseconds < 0 else milliseconds / 1000

    async def cleanup(self) -> None:
        """Close every store built here and delete everything of the namespace."""
        for store in self.stores:
            await store.close()
        if self.name.startswith("redis"):
            client = redis.Redis.from_url(self.redis_url)
            delete_keys_with_prefix(client, f"outlast:{self.namespace}:")
            client.close()
        if self._mongo is not None:
            database = self._database()
            for name in await database.list_collection_names():
                if name.startswith(f"outlast.{self.namespace}."):
                    await database.drop_collection(name)
            await self._mongo.close()


class SyncClaimsStore(RedisStore):
    """The Redis store, but claiming, renewing, completing and releasing idempotency keys
    through ``RedisSyncClaims`` (reads still go through the async store: both must agree)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.claims = self.sync_claims()

    async def claim_idempotency(self, key: str, *, lease: float) -> IdempotencyClaim:
        return self.claims.claim(key, lease=lease)

    async def complete_idempotency(self, key: str, token: str, result: Any = None) -> bool:
        return self.claims.complete(key, token, result)

    async def renew_idempotency(self, key: str, token: str, *, lease: float) -> bool:
        return self.claims.renew(key, token, lease=lease)

    async def release_idempotency(self, key: str, token: str) -> bool:
        return self.claims.release(key, token)

    async def close(self) -> None:
        self.claims.close()
        await super().close()
