"""The durable store of the worker system: dead letters, idempotency records, the retry
schedule, error events, recovery attempts, alerts and snapshots.

One protocol (:class:`Store`), two backends that pass the same contract suite:
:class:`RedisStore` (the default) and :class:`MongoStore` (PyMongo's ``AsyncMongoClient``,
or any injected motor-compatible database). :func:`open_store` picks one from the settings.
Records are frozen dataclasses that refuse invalid values by field name
(:class:`InvalidRecordError`); backend failures surface as :class:`StoreUnavailableError`.

This package never imports Celery or FastAPI; it is what they build on.
"""

from outlast.store._collections import DEFAULT_EVENT_RETENTION, DEFAULT_IDEMPOTENCY_RETENTION
from outlast.store._errors import InvalidRecordError, StoreUnavailableError
from outlast.store._idempotency import (
    ClaimStatus,
    IdempotencyClaim,
    IdempotencyRecord,
    IdempotencyState,
)
from outlast.store._open import DEFAULT_REDIS_URL, open_store
from outlast.store._protocol import Store
from outlast.store._records import (
    Alert,
    AlertStatus,
    DeadLetter,
    ErrorEvent,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)
from outlast.store.mongo._mongo import DEFAULT_DATABASE, MongoStore
from outlast.store.redis._redis import RedisStore
from outlast.store.redis._redis_sync_claims import RedisSyncClaims

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_EVENT_RETENTION",
    "DEFAULT_IDEMPOTENCY_RETENTION",
    "DEFAULT_REDIS_URL",
    "Alert",
    "AlertStatus",
    "ClaimStatus",
    "DeadLetter",
    "ErrorEvent",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "IdempotencyState",
    "InvalidRecordError",
    "MongoStore",
    "RecoveryAttempt",
    "RedisStore",
    "RedisSyncClaims",
    "ScheduledRetry",
    "Snapshot",
    "Store",
    "StoreUnavailableError",
    "open_store",
]
