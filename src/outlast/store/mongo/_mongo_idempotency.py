"""Idempotency keys in MongoDB: one document per key, whose ``_id`` is the key.

``_id`` is unique by construction, so two racing claims cannot both insert, whether or
not ``ensure_indexes`` has run. A claim takes over a lapsed lease with one conditional
``find_one_and_update``; otherwise it inserts, and a duplicate-key error means somebody
else got there first. ``expire_at`` (lease end while pending, completion + retention once
completed) feeds the TTL index; lease checks compare with the store's clock, not it.
"""

from __future__ import annotations

import json
from typing import Any

from pymongo.errors import DuplicateKeyError

from outlast._clock import Clock
from outlast.store._document import new_id
from outlast.store._fields import check_json
from outlast.store._idempotency import (
    ClaimStatus,
    IdempotencyClaim,
    IdempotencyRecord,
    check_key,
    check_lease,
)
from outlast.store.mongo._mongo_codec import INTERNAL_FIELDS, payload_text, utc

__all__ = ["MongoIdempotency"]

#: Rounds of "take over / insert / read" before a claim reports what it last saw.
CLAIM_ROUNDS = 5


class MongoIdempotency:
    """Claims, completes and releases idempotency keys in one collection."""

    def __init__(self, *, retention: float, clock: Clock) -> None:
        self._retention = retention
        self._clock = clock

    async def claim(self, coll: Any, key: str, *, lease: float) -> IdempotencyClaim:
        """Claim ``key`` (see ``Store.claim_idempotency``)."""
        key, seconds = check_key(key), check_lease(lease)
        now, token = self._clock.time(), new_id()
        expires = now + seconds
        fresh = {
            "state": "pending",
            "token": token,
            "claimed_at": now,
            "lease_expires_at": expires,
            "expire_at": utc(expires),
        }
        acquired = IdempotencyClaim(
            key=key, status=ClaimStatus.ACQUIRED, token=token, lease_expires_at=expires
        )
        seen: dict[str, Any] | None = None
        for _ in range(CLAIM_ROUNDS):
            lapsed = {"_id": key, "state": "pending", "lease_expires_at": {"$lte": now}}
            if await coll.find_one_and_update(lapsed, {"$set": fresh}) is not None:
                return acquired
            try:
                await coll.insert_one({"_id": key, **fresh})
                return acquired
            except DuplicateKeyError:
                seen = await coll.find_one({"_id": key})
            if seen is not None and not _lapsed(seen, now):
                return _held(key, seen)
        # Still racing after every round: report "in progress" so the caller comes back later.
        if seen is None:
            return IdempotencyClaim(key=key, status=ClaimStatus.IN_PROGRESS)
        return _held(key, seen)

    async def complete(self, coll: Any, key: str, token: str, result: Any) -> bool:
        """Record ``result`` for the claim held with ``token`` (or for a key nobody holds)."""
        key, now = check_key(key), self._clock.time()
        done = {
            "state": "completed",
            "token": token,
            "completed_at": now,
            "result": payload_text(check_json("IdempotencyRecord", "result", result)),
            "expire_at": utc(now + self._retention),
        }
        held = {"_id": key, "state": "pending", "token": token}
        update = {"$set": done, "$unset": {"lease_expires_at": ""}}
        if await coll.find_one_and_update(held, update) is not None:
            return True
        try:
            await coll.insert_one({"_id": key, **done})
        except DuplicateKeyError:
            return False
        return True

    async def renew(self, coll: Any, key: str, token: str, *, lease: float) -> bool:
        """Extend the pending claim held with ``token`` to ``lease`` seconds from now."""
        expires = self._clock.time() + check_lease(lease)
        held = {"_id": check_key(key), "state": "pending", "token": token}
        update = {"$set": {"lease_expires_at": expires, "expire_at": utc(expires)}}
        return await coll.find_one_and_update(held, update) is not None

    async def release(self, coll: Any, key: str, token: str) -> bool:
        """Drop the pending claim held with ``token``."""
        held = {"_id": check_key(key), "state": "pending", "token": token}
        return bool((await coll.delete_one(held)).deleted_count)

    async def get(self, coll: Any, key: str) -> IdempotencyRecord | None:
        """The stored state of ``key``, or None."""
        document = await coll.find_one({"_id": check_key(key)})
        if document is None:
            return None
        values = {name: value for name, value in document.items() if name not in INTERNAL_FIELDS}
        if "result" in values:
            values["result"] = json.loads(values["result"])
        return IdempotencyRecord.from_document({"key": key, **values})


def _lapsed(document: dict[str, Any], now: float) -> bool:
    return bool(document["state"] == "pending" and document["lease_expires_at"] <= now)


def _held(key: str, document: dict[str, Any]) -> IdempotencyClaim:
    if document["state"] == "completed":
        result = json.loads(document["result"])
        return IdempotencyClaim(key=key, status=ClaimStatus.COMPLETED, result=result)
    return IdempotencyClaim(
        key=key, status=ClaimStatus.IN_PROGRESS, lease_expires_at=document["lease_expires_at"]
    )
