"""Circuit breakers: the cluster view (read tokens); trip and reset by name (admin, audited).

A cluster-scope breaker's state lives in Redis, so opening or closing it here opens or
closes it in every process at once (through the breaker's own control script): 200 with
its new state. A local breaker lives inside each process that uses it: the command is
left for every process to apply within its next publication (about 5 s): 202, ``pending``
(``_registry_commands``). A name no process reports and Redis does not hold: 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from outlast.api._audit import record_action
from outlast.api._auth import AdminCaller, Caller, ReadCaller, context_of
from outlast.api._context import ApiContext
from outlast.api._health_report import cluster_snapshots
from outlast.resilience.shared._redis_link import Unavailable
from outlast.resilience.shared._registry_commands import Action, issue_command, move_local
from outlast.resilience.shared._registry_merge import breaker_processes, merge_breakers

__all__ = ["router"]

router = APIRouter(prefix="/admin/breakers", tags=["circuit breakers"])


async def _snapshots(context: ApiContext) -> list[dict[str, Any]]:
    outcome = await cluster_snapshots(context)
    if not outcome.ok or outcome.value is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "redis does not answer")
    return outcome.value


@router.get("", summary="Every breaker of the cluster, merged over its processes")
async def list_breakers(request: Request, caller: ReadCaller) -> dict[str, Any]:
    """``{name: {state, failure_count, success_count, processes: [...]}}``."""
    snapshots = await _snapshots(context_of(request))
    merged = merge_breakers(snapshots)
    return {name: {**view, "processes": breaker_processes(snapshots, name)}
            for name, view in merged.items()}  # fmt: skip


async def _scope(context: ApiContext, name: str) -> tuple[str, int]:
    """Whether ``name`` is a cluster or a local breaker, and how many processes report it;
    404 when no process reports it and Redis does not hold it."""
    reports = breaker_processes(await _snapshots(context), name)
    scopes = {report.get("scope", "local") for report in reports}
    if reports and "cluster" not in scopes:
        return "local", len(reports)
    if not reports and not await _held_in_redis(context, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no process reports a breaker {name!r}")
    return "cluster", len(reports)


async def _held_in_redis(context: ApiContext, name: str) -> bool:
    key = context.link.key("cb", name)
    answer = await asyncio.to_thread(context.link.call, lambda client: client.exists(key))
    if isinstance(answer, Unavailable):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "redis does not answer")
    return bool(answer)


async def _move(
    request: Request, response: Response, caller: Caller, name: str, action: Action
) -> dict[str, Any]:
    """Move breaker ``name`` everywhere: a cluster breaker at once (200, its new state); a
    local one by a command each process applies within its next publication (202)."""
    context = context_of(request)
    scope, processes = await _scope(context, name)
    if scope == "local":
        issued = await asyncio.to_thread(issue_command, context.link, name, action)
        if isinstance(issued, Unavailable):
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "redis does not answer")
        move_local(name, action)  # this process publishes nothing: it applies its own now
        response.status_code = status.HTTP_202_ACCEPTED
        result: dict[str, Any] = {"name": name, "scope": "local", "state": "pending",
                                  "processes": processes, "command": issued}  # fmt: skip
    else:
        breaker = await asyncio.to_thread(context.cluster_breaker, name)
        await asyncio.to_thread(breaker.force_open if action == "open" else breaker.reset)
        result = {"name": name, "scope": "cluster", "state": breaker.state.value}
    context.fresh.forget()
    verb = "trip" if action == "open" else "reset"
    await record_action(context, caller, f"breaker.{verb}", name, result)
    return result


@router.post("/{name}/trip", summary="Open a breaker in every process (admin)")
async def trip(
    request: Request, response: Response, caller: AdminCaller, name: str
) -> dict[str, Any]:
    """Open the breaker in every process for its full recovery timeout."""
    return await _move(request, response, caller, name, "open")


@router.post("/{name}/reset", summary="Close a breaker and clear its counts (admin)")
async def reset(
    request: Request, response: Response, caller: AdminCaller, name: str
) -> dict[str, Any]:
    """Close the breaker in every process."""
    return await _move(request, response, caller, name, "reset")
