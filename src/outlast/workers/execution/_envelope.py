"""What travels with every operation message besides its own arguments.

The envelope rides in the task's keyword arguments under ``_outlast`` (JSON, visible in
Flower) and is stripped before the operation is called. It carries the idempotency key
(stable across retries and redeliveries), the number of the attempt about to run, the
last backoff delay (decorrelated jitter grows from it) and ``not_before``: a message that
arrives earlier than that (a parked retry that had to fall back on the broker) defers
itself again instead of running early.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Final

from outlast.errors import ValidationError

__all__ = ["ENVELOPE_KEY", "Envelope"]

ENVELOPE_KEY: Final = "_outlast"


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """The retry and idempotency state of one logical piece of work."""

    key: str
    attempt: int = 1
    previous_delay: float | None = None
    not_before: float = 0.0

    @classmethod
    def new(cls, idempotency_key: str | None = None) -> Envelope:
        """The envelope of freshly enqueued work (a random key unless one is given)."""
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not idempotency_key.strip()
        ):
            raise ValidationError(f"idempotency_key must be non-empty text: {idempotency_key!r}")
        return cls(key=idempotency_key or uuid.uuid4().hex)

    @classmethod
    def split(cls, kwargs: dict[str, Any], *, fallback_key: str) -> tuple[Envelope, dict[str, Any]]:
        """The envelope in ``kwargs`` (or a new one keyed ``fallback_key``) and the rest."""
        rest = dict(kwargs)
        raw = rest.pop(ENVELOPE_KEY, None)
        if not isinstance(raw, dict):
            return cls(key=fallback_key), rest
        return cls(
            key=str(raw.get("key") or fallback_key),
            attempt=max(1, int(raw.get("attempt", 1))),
            previous_delay=raw.get("previous_delay"),
            not_before=float(raw.get("not_before", 0.0)),
        ), rest

    def to_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` with this envelope added (for the next message)."""
        envelope = {"key": self.key, "attempt": self.attempt, "not_before": self.not_before}
        if self.previous_delay is not None:
            envelope["previous_delay"] = self.previous_delay
        return {**kwargs, ENVELOPE_KEY: envelope}

    def next_attempt(self, delay: float) -> Envelope:
        """The envelope of the retry that follows a failed attempt, ``delay`` seconds on."""
        return replace(self, attempt=self.attempt + 1, previous_delay=delay)

    def deferred_until(self, moment: float) -> Envelope:
        """The same attempt, not to run before ``moment`` (epoch seconds)."""
        return replace(self, not_before=moment)
