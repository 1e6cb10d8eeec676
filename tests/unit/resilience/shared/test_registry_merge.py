"""Merging every process's snapshot into the report's breakers and bulkheads."""

from __future__ import annotations

from typing import Any

from outlast.resilience.shared._registry_merge import merge_breakers, merge_bulkheads


def breaker(state: str, failures: int, successes: int, scope: str | None = None) -> dict[str, Any]:
    """A breaker's ``stats()`` as a snapshot holds it."""
    stats: dict[str, Any] = {"state": state, "failure_count": failures, "success_count": successes}
    if scope is not None:
        stats["scope"] = scope
    return stats


def test_local_breakers_take_the_worst_state_and_add_successes() -> None:
    """Local breakers of one name: worst state, highest failure run, successes summed."""
    snapshots = [
        {"breakers": {"db": breaker("closed", 1, 10)}},
        {"breakers": {"db": breaker("half_open", 3, 5)}},
    ]
    assert merge_breakers(snapshots) == {
        "db": {"state": "half_open", "failure_count": 3, "success_count": 15}
    }


def test_cluster_breaker_is_counted_once() -> None:
    """A cluster breaker every process reports is one breaker: its counts are not added."""
    snapshots = [
        {"breakers": {"db": breaker("open", 5, 40, "cluster")}},
        {"breakers": {"db": breaker("open", 5, 41, "cluster")}},
    ]
    assert merge_breakers(snapshots)["db"] == {
        "state": "open",
        "failure_count": 5,
        "success_count": 41,
    }


def test_bulkheads_add_local_capacity_and_share_cluster_capacity() -> None:
    """Local bulkheads add up; a cluster one is counted once; rejections over all attempts."""
    local = {"capacity": 5, "active_count": 2, "total_acquired": 3, "total_rejected": 1}
    shared = {"capacity": 8, "active_count": 6, "total_acquired": 2, "total_rejected": 2,
              "scope": "cluster"}  # fmt: skip
    merged = merge_bulkheads(
        [
            {"bulkheads": {"pool": local, "shared": shared}},
            {"bulkheads": {"pool": local, "shared": shared}},
        ]
    )
    assert merged["pool"] == {"capacity": 10, "active_count": 4, "rejection_rate": 0.25}
    assert merged["shared"] == {"capacity": 8, "active_count": 6, "rejection_rate": 0.5}


def test_nothing_published_is_empty() -> None:
    """No snapshot, or snapshots without registries, give empty maps."""
    assert merge_breakers([]) == {}
    assert merge_bulkheads([{"process": "x"}]) == {}
