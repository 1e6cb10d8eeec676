"""The cluster's breakers and bulkheads, merged from every process's published snapshot
(the merge lives in ``outlast.resilience.shared._registry_merge``, so the CLI reads the same
view without FastAPI)."""

from __future__ import annotations

from outlast.resilience.shared._registry_merge import (
    breaker_processes,
    merge_breakers,
    merge_bulkheads,
)

__all__ = ["breaker_processes", "merge_breakers", "merge_bulkheads"]
