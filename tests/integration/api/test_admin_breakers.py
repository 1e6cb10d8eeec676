"""Cluster breakers tripped and reset by name through the API: every process sharing the
Redis sees the change, the report shows it, the audit names who did it; a breaker that is
local to its processes is moved by a command each process applies (202), an unknown one is
404."""

from __future__ import annotations

import time

import httpx

from _api_support import ADMIN_TOKEN, READ_TOKEN, auth
from outlast.config import Settings
from outlast.resilience import CircuitBreaker, CircuitState, get_circuit_breaker


def wait_for_state(breaker: CircuitBreaker, state: CircuitState, within: float = 5.0) -> bool:
    """Whether ``breaker`` reaches ``state`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while breaker.state is not state and time.monotonic() < deadline:
        time.sleep(0.05)
    return breaker.state is state


async def test_trip_and_reset_reach_every_process(
    client: httpx.AsyncClient, core_settings: Settings
) -> None:
    """Tripped through the API, this process's cluster breaker opens; reset, it closes."""
    here = get_circuit_breaker("inventory", scope="cluster")
    here.call_sync(lambda: None)
    tripped = await client.post("/admin/breakers/inventory/trip", headers=auth(ADMIN_TOKEN))
    assert tripped.json() == {"name": "inventory", "scope": "cluster", "state": "open"}
    assert wait_for_state(here, CircuitState.OPEN)
    listed = (await client.get("/admin/breakers", headers=auth(READ_TOKEN))).json()
    assert listed["inventory"]["state"] == "open"

    reset = await client.post("/admin/breakers/inventory/reset", headers=auth(ADMIN_TOKEN))
    assert reset.json() == {"name": "inventory", "scope": "cluster", "state": "closed"}
    assert wait_for_state(here, CircuitState.CLOSED)
    audit = (await client.get("/admin/audit", headers=auth(READ_TOKEN))).json()["items"]
    assert [(a["by"], a["action"], a["target"]) for a in audit] == [
        ("ops", "breaker.reset", "inventory"),
        ("ops", "breaker.trip", "inventory"),
    ]


async def test_a_local_breaker_is_moved_by_a_command_and_an_unknown_one_is_404(
    client: httpx.AsyncClient,
) -> None:
    """A breaker only reported as local: trip answers 202 pending and leaves the command for
    every process (this one applies it at once), reset likewise; an unknown name is 404."""
    here = get_circuit_breaker("only-here", scope="local")
    tripped = await client.post("/admin/breakers/only-here/trip", headers=auth(ADMIN_TOKEN))
    assert tripped.status_code == 202
    assert {k: tripped.json()[k] for k in ("scope", "state", "processes")} == {
        "scope": "local", "state": "pending", "processes": 1,
    }  # fmt: skip
    assert here.stats()["state"] == "open"
    reset = await client.post("/admin/breakers/only-here/reset", headers=auth(ADMIN_TOKEN))
    assert reset.status_code == 202
    assert here.stats()["state"] == "closed"
    unknown = await client.post("/admin/breakers/nobody/trip", headers=auth(ADMIN_TOKEN))
    assert unknown.status_code == 404
