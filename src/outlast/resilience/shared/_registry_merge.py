"""The cluster's breakers and bulkheads, merged from every process's published snapshot.

Each process publishes its registries (``_registry_snapshot``). A cluster-scope breaker or
bulkhead is one shared object that every process reports: its state and counts are taken
once (the highest, the freshest any process saw). Local ones are one per process: a breaker
is as bad as its worst process (open before half-open before closed), its consecutive
``failure_count`` the highest, its ``success_count`` the sum; a bulkhead's capacity and
``active_count`` are sums. ``rejection_rate`` is every process's rejections over every
process's attempts. Numbers are at most one publishing interval old (5 s by default).

Pure functions of the snapshots: the health API and ``outlast status`` read the same view.
This module reads nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["breaker_processes", "merge_breakers", "merge_bulkheads"]

_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}


def _worst(a: str, b: str) -> str:
    return a if _SEVERITY.get(a, 1) >= _SEVERITY.get(b, 1) else b


def _entries(
    snapshots: Iterable[dict[str, Any]], part: str
) -> Iterable[tuple[str, dict[str, Any]]]:
    for snapshot in snapshots:
        for name, stats in (snapshot.get(part) or {}).items():
            if isinstance(stats, dict):
                yield name, stats


def merge_breakers(snapshots: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{name: {state, failure_count, success_count}}`` over every process."""
    merged: dict[str, dict[str, Any]] = {}
    for name, stats in _entries(snapshots, "breakers"):
        state = str(stats.get("state", "closed"))
        failures, successes = int(stats.get("failure_count", 0)), int(stats.get("success_count", 0))
        entry = merged.get(name)
        if entry is None:
            merged[name] = {"state": state, "failure_count": failures, "success_count": successes}
            continue
        entry["state"] = _worst(entry["state"], state)
        entry["failure_count"] = max(entry["failure_count"], failures)
        shared = stats.get("scope") == "cluster"
        entry["success_count"] = (
            max(entry["success_count"], successes) if shared else entry["success_count"] + successes
        )
    return dict(sorted(merged.items()))


def merge_bulkheads(snapshots: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{name: {capacity, active_count, rejection_rate}}`` over every process."""
    totals: dict[str, dict[str, int]] = {}
    for name, stats in _entries(snapshots, "bulkheads"):
        shared = stats.get("scope") == "cluster"
        entry = totals.setdefault(name, {"capacity": 0, "active": 0, "acquired": 0, "rejected": 0})
        capacity, active = int(stats.get("capacity", 0)), int(stats.get("active_count", 0))
        if shared:
            entry["capacity"] = max(entry["capacity"], capacity)
            entry["active"] = max(entry["active"], active)
        else:
            entry["capacity"] += capacity
            entry["active"] += active
        entry["acquired"] += int(stats.get("total_acquired", 0))
        entry["rejected"] += int(stats.get("total_rejected", 0))
    return {name: _bulkhead_view(entry) for name, entry in sorted(totals.items())}


def _bulkhead_view(entry: dict[str, int]) -> dict[str, Any]:
    attempts = entry["acquired"] + entry["rejected"]
    return {
        "capacity": entry["capacity"],
        "active_count": entry["active"],
        "rejection_rate": entry["rejected"] / attempts if attempts else 0.0,
    }


def breaker_processes(snapshots: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Breaker ``name`` as each process reports it (for the admin breaker view)."""
    found = []
    for snapshot in snapshots:
        stats = (snapshot.get("breakers") or {}).get(name)
        if isinstance(stats, dict):
            found.append({"process": snapshot.get("process"), **stats})
    return found
