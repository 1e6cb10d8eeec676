"""Where orphan recovery keeps its state in the broker's Redis, and kombu's keys it reads.

Under ``outlast:<namespace>:orphans``: the set of known workers (``workers``), each
worker's heartbeat (``alive:<worker>``, a string that expires) and the delivery tags it
holds (``held:<worker>``, a sorted set scored like kombu's ``unacked_index``). kombu's
``unacked`` hash and ``unacked_index`` sorted set are named by the transport options,
under its ``global_keyprefix``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["REDIS_SCHEMES", "OrphanKeys", "is_redis_broker", "new_worker_id"]

REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def is_redis_broker(url: str) -> bool:
    """Whether kombu's Redis transport (and so orphan recovery) serves ``url``."""
    return url.startswith(REDIS_SCHEMES)


def new_worker_id(hostname: str) -> str:
    """An id for this worker process, never reused: a worker restarted under the same
    node name must not look like the dead one alive again."""
    return f"{hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class OrphanKeys:
    """The full key names, for a client that does not prefix them."""

    base: str
    """``outlast:<namespace>:orphans``."""
    keyprefix: str
    """kombu's ``global_keyprefix`` ("" when none)."""
    unacked: str
    unacked_index: str

    @classmethod
    def for_broker(cls, namespace: str, transport_options: Mapping[str, Any]) -> OrphanKeys:
        """The keys of ``namespace`` on a broker with these transport options."""
        prefix = str(transport_options.get("global_keyprefix") or "")
        return cls(
            base=f"outlast:{namespace}:orphans",
            keyprefix=prefix,
            unacked=prefix + str(transport_options.get("unacked_key") or "unacked"),
            unacked_index=prefix
            + str(transport_options.get("unacked_index_key") or "unacked_index"),
        )

    @property
    def workers(self) -> str:
        return f"{self.base}:workers"

    def alive(self, worker: str) -> str:
        return f"{self.base}:alive:{worker}"

    def held(self, worker: str) -> str:
        return f"{self.base}:held:{worker}"

    def unprefixed(self, key: str) -> str:
        """``key`` as kombu's prefixing client must be given it (it adds the prefix)."""
        if not key.startswith(self.keyprefix):
            raise ValueError(f"{key!r} is not under kombu's key prefix {self.keyprefix!r}")
        return key[len(self.keyprefix) :]
