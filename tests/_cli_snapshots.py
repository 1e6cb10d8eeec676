"""What the CLI tests read of the snapshots workers publish: whether a breaker shows in one
yet (the CLI commands answer from these snapshots, so a test waits for them first)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from outlast.resilience.shared._redis_link import RedisLink
from outlast.resilience.shared._registry_snapshot import read_snapshots

__all__ = ["published"]


def published(env: Mapping[str, str], breaker: str, within: float = 15.0) -> bool:
    """Whether some process publishes breaker ``breaker`` within ``within`` seconds."""
    link = RedisLink(env["OUTLAST_REDIS_URL"], namespace=env["OUTLAST_NAMESPACE"])
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if any(breaker in s.get("breakers", {}) for s in read_snapshots(link) or []):
                return True
            time.sleep(0.2)
        return False
    finally:
        link.close()
