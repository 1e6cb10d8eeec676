"""The collections of the MongoDB store and the indexes each one needs.

Collections are named ``outlast.<namespace>.<kind>`` so they can share an application's
database. Every index has a fixed name, so ``ensure_indexes`` is idempotent. Idempotency
keys are the documents' ``_id``, whose index MongoDB always keeps unique; TTL indexes
(``expireAfterSeconds=0`` on ``expire_at``) let MongoDB delete expired records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["COLLECTIONS", "IndexSpec", "collection_name", "ensure_indexes"]

Keys = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index: its name, its keys, and whether it is a TTL index on ``expire_at``."""

    name: str
    keys: Keys
    ttl: bool = False


TTL = IndexSpec("expire_at_ttl", (("expire_at", 1),), ttl=True)

COLLECTIONS: dict[str, tuple[IndexSpec, ...]] = {
    "dead_letters": (
        IndexSpec("failed_at", (("failed_at", -1), ("_id", -1))),
        IndexSpec("task_name_failed_at", (("task_name", 1), ("failed_at", -1), ("_id", -1))),
    ),
    "error_events": (
        IndexSpec("occurred_at", (("occurred_at", -1), ("_id", -1))),
        IndexSpec("severity_occurred_at", (("severity", 1), ("occurred_at", -1))),
        IndexSpec("fingerprint_occurred_at", (("fingerprint", 1), ("occurred_at", -1))),
        TTL,
    ),
    "recovery_attempts": (
        IndexSpec("started_at", (("started_at", -1), ("_id", -1))),
        IndexSpec("service_started_at", (("service", 1), ("started_at", -1))),
        TTL,
    ),
    "snapshots": (IndexSpec("kind_taken_at", (("kind", 1), ("taken_at", -1), ("_id", -1))), TTL),
    "alerts": (
        IndexSpec("status_updated_at", (("status", 1), ("updated_at", -1))),
        IndexSpec("status_resolved_at", (("status", 1), ("resolved_at", -1))),
        TTL,
    ),
    "retries": (IndexSpec("due_at", (("due_at", 1), ("_id", 1))),),
    "idempotency": (TTL,),
}


def collection_name(namespace: str, kind: str) -> str:
    """The name of the collection holding ``kind`` records of ``namespace``."""
    return f"outlast.{namespace}.{kind}"


async def ensure_indexes(database: Any, namespace: str) -> None:
    """Create every index of every collection of ``namespace`` (a no-op once they exist)."""
    for kind, specs in COLLECTIONS.items():
        collection = database[collection_name(namespace, kind)]
        for spec in specs:
            options: dict[str, Any] = {"name": spec.name}
            if spec.ttl:
                options["expireAfterSeconds"] = 0
            await collection.create_index(list(spec.keys), **options)
