"""Idempotency records: the state of one idempotency key, and the answer to a claim.

A key goes ``absent -> pending (claimed, with a lease) -> completed (with its result)``.
A pending claim whose lease has run out counts as absent, so work held by a worker that
died is claimed again; ``release`` turns a pending claim back to absent (the work failed
and may be retried). Only the holder of a claim's ``token`` may complete or release it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from outlast.store._document import Document, check_enum
from outlast.store._errors import InvalidRecordError
from outlast.store._fields import (
    MAX_ID_LENGTH,
    check_json,
    check_optional_text,
    check_optional_timestamp,
    check_text,
)

__all__ = [
    "ClaimStatus",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "IdempotencyState",
    "check_key",
    "check_lease",
]


class IdempotencyState(enum.Enum):
    """Where a stored idempotency key stands."""

    PENDING = "pending"
    COMPLETED = "completed"


class ClaimStatus(enum.Enum):
    """The outcome of claiming a key."""

    ACQUIRED = "acquired"  # the caller owns the work now
    IN_PROGRESS = "in_progress"  # another worker holds a live claim
    COMPLETED = "completed"  # the work is done; its result is in the claim


def check_key(key: object) -> str:
    """``key`` if it is a usable idempotency key (non-empty text, at most 512 chars)."""
    return check_text("IdempotencyRecord", "key", key, max_length=MAX_ID_LENGTH)


def check_lease(lease: object) -> float:
    """``lease`` if it is a positive, finite number of seconds."""
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not 0 < lease < 1e9:
        raise InvalidRecordError("IdempotencyClaim", "lease", f"must be > 0 seconds: {lease!r}")
    return float(lease)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyRecord(Document):
    """What the store holds for one key: a pending claim or a completed result."""

    json_fields = ("result",)

    key: str
    state: IdempotencyState
    token: str | None = None
    claimed_at: float | None = None
    lease_expires_at: float | None = None
    completed_at: float | None = None
    result: Any = None

    def __post_init__(self) -> None:
        name = "IdempotencyRecord"
        check_key(self.key)
        check_optional_text(name, "token", self.token)
        object.__setattr__(self, "state", check_enum(name, "state", IdempotencyState, self.state))
        for stamp in ("claimed_at", "lease_expires_at", "completed_at"):
            object.__setattr__(
                self, stamp, check_optional_timestamp(name, stamp, getattr(self, stamp))
            )
        object.__setattr__(self, "result", check_json(name, "result", self.result))
        self._check_state()

    def _check_state(self) -> None:
        if self.state is IdempotencyState.COMPLETED:
            if self.completed_at is None:
                raise InvalidRecordError("IdempotencyRecord", "completed_at", "must be set")
            return
        for needed in ("token", "claimed_at", "lease_expires_at"):
            if getattr(self, needed) is None:
                raise InvalidRecordError(
                    "IdempotencyRecord", needed, "must be set on a pending claim"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyClaim:
    """The answer to ``Store.claim_idempotency``.

    ``ACQUIRED``: ``token`` proves ownership (pass it to complete/release) and the claim
    lapses at ``lease_expires_at``. ``IN_PROGRESS``: someone else holds it until
    ``lease_expires_at``. ``COMPLETED``: ``result`` is the stored result; do not run again.
    """

    key: str
    status: ClaimStatus
    token: str | None = None
    lease_expires_at: float | None = None
    result: Any = None

    def __post_init__(self) -> None:
        status = check_enum("IdempotencyClaim", "status", ClaimStatus, self.status)
        object.__setattr__(self, "status", status)
        if status is ClaimStatus.ACQUIRED and self.token is None:
            raise InvalidRecordError("IdempotencyClaim", "token", "an acquired claim needs one")

    @property
    def acquired(self) -> bool:
        """Whether the caller now owns the work."""
        return self.status is ClaimStatus.ACQUIRED

    @property
    def completed(self) -> bool:
        """Whether the work was already done (``result`` holds what it returned)."""
        return self.status is ClaimStatus.COMPLETED
