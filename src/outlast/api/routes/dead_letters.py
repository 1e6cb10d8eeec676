"""Dead letters: list, show (read tokens); replay, purge (admin tokens, audited).

A replay enqueues the letter's operation again under its idempotency key
(:func:`outlast.dead_letters.replay`); the API process imports the task modules a worker
imports so it knows every operation. The worker side is loaded on the first call only, so
importing the API reads no Celery settings.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from outlast.api._audit import record_action
from outlast.api._auth import AdminCaller, ReadCaller, context_of
from outlast.api._context import ApiContext
from outlast.api.routes._paging import Limit, Offset, page
from outlast.errors import ConfigurationError
from outlast.store import DeadLetter, Store

__all__ = ["letter_view", "router"]

router = APIRouter(prefix="/admin/dead-letters", tags=["dead letters"])

TaskName = Annotated[str | None, Query(description="only letters of this task")]


@asynccontextmanager
async def _store(context: ApiContext) -> AsyncIterator[Store]:
    store = context.open_store()
    try:
        yield store
    finally:
        await store.close()


def letter_view(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API shows it."""
    return letter.to_document()


@router.get("", summary="List dead letters, most recently failed first")
async def list_letters(
    request: Request, caller: ReadCaller, task_name: TaskName = None,
    limit: Limit = 50, offset: Offset = 0,
) -> dict[str, Any]:  # fmt: skip
    """A page of dead letters, optionally of one task, with the total count."""
    async with _store(context_of(request)) as store:
        letters = await store.list_dead_letters(task_name=task_name, limit=limit, offset=offset)
        total = await store.count_dead_letters(task_name=task_name)
    return page([letter_view(x) for x in letters], limit=limit, offset=offset, total=total)


@router.get("/{letter_id}", summary="Show one dead letter")
async def show_letter(request: Request, caller: ReadCaller, letter_id: str) -> dict[str, Any]:
    """Everything kept of the letter: arguments, error, traceback, replays."""
    async with _store(context_of(request)) as store:
        letter = await store.get_dead_letter(letter_id)
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id!r}")
    return letter_view(letter)


@router.post("/{letter_id}/replay", summary="Replay a dead letter (admin)")
async def replay_letter(request: Request, caller: AdminCaller, letter_id: str) -> dict[str, Any]:
    """Enqueue the letter's work again under its idempotency key; the new task id."""
    context = context_of(request)
    await asyncio.to_thread(_load_operations, context)
    from outlast import dead_letters

    async with _store(context) as store:
        try:
            task_id = await dead_letters.replay(letter_id, store=store)
        except KeyError:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id!r}"
            ) from None
        except ConfigurationError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    result = {"letter_id": letter_id, "task_id": task_id}
    await record_action(context, caller, "dead_letter.replay", letter_id, result)
    return result


@router.delete("", summary="Purge dead letters (admin)")
async def purge_letters(
    request: Request, caller: AdminCaller, task_name: TaskName = None,
    before: Annotated[float | None, Query(description="failed at or before (epoch s)")] = None,
    purge_all: Annotated[bool, Query(alias="all", description="required without a filter")] = False,
) -> dict[str, Any]:  # fmt: skip
    """Delete the matching letters; without ``task_name`` or ``before``, ``all=true`` is needed."""
    if task_name is None and before is None and not purge_all:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "give task_name or before, or all=true to purge them all",
        )
    context = context_of(request)
    async with _store(context) as store:
        purged = await store.purge_dead_letters(task_name=task_name, before=before)
    target = f"task_name={task_name} before={before}"
    await record_action(context, caller, "dead_letter.purge", target, {"purged": purged})
    return {"purged": purged}


def _load_operations(context: ApiContext) -> None:
    """Import the modules a worker imports, so every operation is registered here too."""
    from outlast.workers import TASK_MODULES

    for module in (*TASK_MODULES, *context.core.task_modules):
        importlib.import_module(module)
