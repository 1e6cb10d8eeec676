"""Circuit breakers: the cluster view (read tokens); trip and reset by name (admin, audited).

Only a cluster-scope breaker can be moved from here: its state lives in Redis, so opening
or closing it here opens or closes it in every process (through the breaker's own control
script). A local breaker lives inside one worker process and cannot be reached: 409.
A name no process reports and Redis does not hold: 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from outlast.api._audit import record_action
from outlast.api._auth import AdminCaller, ReadCaller, context_of
from outlast.api._context import ApiContext
from outlast.api._health_report import cluster_snapshots
from outlast.resilience import CircuitBreaker
from outlast.resilience.shared._redis_link import Unavailable
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


async def _cluster_breaker(context: ApiContext, name: str) -> CircuitBreaker:
    reports = breaker_processes(await _snapshots(context), name)
    scopes = {report.get("scope", "local") for report in reports}
    if reports and "cluster" not in scopes:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"breaker {name!r} is local to each process that uses it; only cluster-scope "
            "breakers can be tripped or reset from here",
        )
    if not reports and not await _held_in_redis(context, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no process reports a breaker {name!r}")
    return await asyncio.to_thread(context.cluster_breaker, name)


async def _held_in_redis(context: ApiContext, name: str) -> bool:
    key = context.link.key("cb", name)
    answer = await asyncio.to_thread(context.link.call, lambda client: client.exists(key))
    if isinstance(answer, Unavailable):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "redis does not answer")
    return bool(answer)


@router.post("/{name}/trip", summary="Open a cluster breaker now (admin)")
async def trip(request: Request, caller: AdminCaller, name: str) -> dict[str, Any]:
    """Open the breaker in every process for its full recovery timeout."""
    context = context_of(request)
    breaker = await _cluster_breaker(context, name)
    await asyncio.to_thread(breaker.force_open)
    context.fresh.forget()
    result = {"name": name, "state": breaker.state.value}
    await record_action(context, caller, "breaker.trip", name, result)
    return result


@router.post("/{name}/reset", summary="Close a cluster breaker and clear its counts (admin)")
async def reset(request: Request, caller: AdminCaller, name: str) -> dict[str, Any]:
    """Close the breaker in every process."""
    context = context_of(request)
    breaker = await _cluster_breaker(context, name)
    await asyncio.to_thread(breaker.reset)
    context.fresh.forget()
    result = {"name": name, "state": breaker.state.value}
    await record_action(context, caller, "breaker.reset", name, result)
    return result
