"""``outlast recover`` waits out a sweep running elsewhere instead of showing an empty report."""

from __future__ import annotations

from typing import Any

from outlast.cli._recover import sweep_when_free


def _sweeps(*reports: dict[str, Any]) -> tuple[list[int], Any]:
    calls: list[int] = []
    queue = list(reports)

    def sweep() -> dict[str, Any]:
        calls.append(1)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return calls, sweep


def test_a_skipped_sweep_is_retried_until_the_lease_is_free() -> None:
    """A report that says ``skipped`` is never shown: the sweep runs again once free."""
    calls, sweep = _sweeps({"skipped": True}, {"skipped": True}, {"health": {"cache": {}}})
    assert sweep_when_free(sweep, wait=5.0, pause=0.0) == {"health": {"cache": {}}}
    assert len(calls) == 3


def test_a_lease_held_past_the_wait_gives_none() -> None:
    """While another sweep keeps the lease past the wait, the answer is None (one line, exit 1)."""
    calls, sweep = _sweeps({"skipped": True})
    assert sweep_when_free(sweep, wait=0.05, pause=0.01) is None
    assert len(calls) >= 2
