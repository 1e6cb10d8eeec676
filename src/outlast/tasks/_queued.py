"""``Queued``: what ``payment_queue.add`` and ``email_queue.add`` return.

The work is published before ``add`` returns; the result is a plain dict (``status``,
``task_id``, ``idempotency_key``) that can also be awaited, so the seed's
``await payment_queue.add(user_id, amount)`` runs as written inside an async fallback.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

__all__ = ["Queued"]


class Queued(dict[str, Any]):
    """What ``add`` did: already done, so awaiting it returns it at once."""

    def __await__(self) -> Generator[Any, None, Queued]:
        return self
        yield  # unreachable: it only makes this method a generator
