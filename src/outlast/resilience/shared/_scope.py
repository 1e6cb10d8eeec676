"""Where a breaker's or bulkhead's state lives: this process ("local") or Redis ("cluster").

One rule for both: an explicit ``scope`` wins, then ``Settings.state_scope``, else
"cluster" exactly when ``Settings.redis_url`` is set.
"""

from __future__ import annotations

from typing import Literal

from outlast.config import get_settings
from outlast.errors import ConfigurationError

__all__ = ["DownPolicy", "Scope", "cluster_redis_url"]

Scope = Literal["local", "cluster"]

# What cluster-scope state does while Redis does not answer (Settings.redis_down_policy).
DownPolicy = Literal["local", "fail_open", "fail_closed"]


def cluster_redis_url(scope: str | None, *, kind: str) -> str | None:
    """The Redis URL a new ``kind`` ("circuit breaker", "bulkhead") shares state through,
    or None for local scope; ConfigurationError for an unknown scope or a cluster scope
    without a Redis URL."""
    if scope not in (None, "local", "cluster"):
        raise ConfigurationError(f"{kind} scope must be 'local' or 'cluster', not {scope!r}")
    settings = get_settings()
    chosen = scope or settings.state_scope or ("cluster" if settings.redis_url else "local")
    if chosen == "local":
        return None
    if not settings.redis_url:
        raise ConfigurationError(
            f"a cluster-scope {kind} needs a Redis: set OUTLAST_REDIS_URL (Settings.redis_url)"
        )
    return settings.redis_url
