"""Idempotency claims on Redis from sync code: the workers' fast path for sync operations.

A sync operation that keeps an idempotency claim needs four calls to the store per run
(claim, then complete or release, and renewals while it runs); through the async store
each would take a trip through an event loop from a thread that has nothing else to do.
:class:`RedisSyncClaims` makes the same calls with redis-py's sync client, with the same
scripts, keys and encodings as :class:`~outlast.store.RedisStore` (``_redis_idempotency``),
so both see and honour each other's claims. redis-py's sync client is thread-safe: the
renewal timer thread and the task's thread share it.

Every driver error becomes :class:`~outlast.store.StoreUnavailableError`, as in the store.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.store._collections import DEFAULT_IDEMPOTENCY_RETENTION
from outlast.store._errors import redact_url, translate_errors
from outlast.store._idempotency import IdempotencyClaim
from outlast.store.redis import _redis_scripts as lua
from outlast.store.redis._redis import store_prefix
from outlast.store.redis._redis_idempotency import IdempotencyScripts, claimed

__all__ = ["RedisSyncClaims"]

_DRIVER_ERRORS = (redis.RedisError, OSError)


class RedisSyncClaims:
    """Claim, renew, complete and release idempotency keys of the store of ``namespace``
    on the Redis at ``url``, from sync code (see ``Store.claim_idempotency`` and friends)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        idempotency_retention: float = DEFAULT_IDEMPOTENCY_RETENTION,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self._target = redact_url(url)
        self._scripts = IdempotencyScripts(
            prefix=store_prefix(namespace),
            retention=idempotency_retention,
            clock=clock or SYSTEM_CLOCK,
        )
        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),  # the caller decides about retrying
            decode_responses=True,
        )
        self._client = client
        self._claim = client.register_script(lua.CLAIM)
        self._complete = client.register_script(lua.COMPLETE)
        self._renew = client.register_script(lua.RENEW)
        self._release = client.register_script(lua.RELEASE)

    def __repr__(self) -> str:
        return f"RedisSyncClaims({self._target!r})"

    def claim(self, key: str, *, lease: float) -> IdempotencyClaim:
        """Claim ``key`` for ``lease`` seconds; exactly one of racing claimers acquires it."""
        redis_key = self._scripts.key(key)
        token, expires, args = self._scripts.claim_args(lease)
        with self._translation("claim_idempotency"):
            reply = self._claim(keys=[redis_key], args=args)
        return claimed(key, token, expires, reply)

    def complete(self, key: str, token: str, result: Any = None) -> bool:
        """Record ``result`` for the claim held with ``token``; False if it was lost."""
        redis_key, args = self._scripts.key(key), self._scripts.complete_args(token, result)
        with self._translation("complete_idempotency"):
            return bool(self._complete(keys=[redis_key], args=args))

    def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the claim held with ``token`` to ``lease`` seconds from now."""
        redis_key, args = self._scripts.key(key), self._scripts.renew_args(token, lease)
        with self._translation("renew_idempotency"):
            return bool(self._renew(keys=[redis_key], args=args))

    def release(self, key: str, token: str) -> bool:
        """Give up the claim held with ``token`` so the work can be claimed again."""
        redis_key = self._scripts.key(key)
        with self._translation("release_idempotency"):
            return bool(self._release(keys=[redis_key], args=[token]))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def _translation(self, operation: str) -> Any:
        return translate_errors(
            _DRIVER_ERRORS, backend="redis", target=self._target, operation=operation
        )
