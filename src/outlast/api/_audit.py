"""The record of every admin action: who (the token's name), when, what, on which target.

Each action is a store snapshot of kind ``api.admin_action`` (both backends keep snapshots),
and a log line that names the token's name, never the token. Recording is bounded by the
API's timeout; a store that does not answer loses the record but not the action's answer,
and says so in the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from outlast.api._auth import Caller
from outlast.api._context import ApiContext
from outlast.api._timeouts import bounded
from outlast.store import Snapshot

__all__ = ["AUDIT_KIND", "list_actions", "record_action"]

AUDIT_KIND = "api.admin_action"

log = logging.getLogger("outlast.api.audit")


async def record_action(
    context: ApiContext, caller: Caller, action: str, target: str, result: Any = None
) -> None:
    """Keep who did ``action`` on ``target`` and when, in the store and the log."""
    now = time.time()
    data = {"by": caller.name, "action": action, "target": target, "result": result, "at": now}
    log.info("admin action %s on %s by %s", action, target, caller.name)
    store = context.open_store()
    try:
        record = Snapshot(kind=AUDIT_KIND, taken_at=now, data=data)
        stored = await bounded(store.put_snapshot(record), context.timeout)
        if not stored.ok:
            log.error("admin action %s by %s not recorded: %s", action, caller.name, stored.error)
    finally:
        await bounded(store.close(), context.timeout)


async def list_actions(context: ApiContext, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """The recorded admin actions, newest first."""
    store = context.open_store()
    try:
        snapshots = await store.list_snapshots(kind=AUDIT_KIND, limit=limit, offset=offset)
    finally:
        await store.close()
    return [dict(s.data, id=s.id) for s in snapshots]
