"""An operator's trip or reset of a local breaker, carried to every process that has one.

A local breaker lives inside one process, so nothing outside it can call it. The operator's
command (``outlast breaker``, the health API) is written to the hash
``link.key("registry", "commands")``: the field is the breaker's name, the value the
command's id, action (``open`` or ``reset``) and the wall time it was issued. Every
process's registry publisher reads that hash in the round trip that publishes its snapshot
(every 5 s), applies each command it has not applied yet to its own local breaker of that
name, if it has one, and publishes again at once. A command counts for ``COMMAND_TTL``
seconds, so a process started within that time applies it too; the hash expires after it.
Cluster breakers are never moved this way: their state lives in Redis already.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, Final, Literal

from outlast.resilience.breaker._breaker_registry import circuit_breakers
from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = [
    "COMMAND_TTL",
    "Action",
    "CommandFollower",
    "commands_key",
    "issue_command",
    "move_local",
]

COMMAND_TTL: Final = 60.0
Action = Literal["open", "reset"]


def commands_key(link: RedisLink) -> str:
    """The hash of the commands in force on ``link``."""
    return link.key("registry", "commands")


def issue_command(link: RedisLink, name: str, action: Action) -> str | Unavailable:
    """Ask every process to ``action`` its local breaker ``name``; the command's id, or
    UNAVAILABLE when Redis does not answer."""
    command = {"id": secrets.token_hex(8), "action": action, "issued_at": link.clock.time()}
    key = commands_key(link)

    def write(client: Any) -> Any:
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, name, json.dumps(command))
        pipe.pexpire(key, int(COMMAND_TTL * 1000))
        return pipe.execute()

    answer = link.call(write)
    return answer if isinstance(answer, Unavailable) else str(command["id"])


class CommandFollower:
    """The commands one process has applied, so each is applied once."""

    def __init__(self, applied: set[str] | None = None) -> None:
        self.applied: set[str] = set(applied or ())

    def apply(self, commands: Mapping[Any, Any], now: float) -> list[str]:
        """Apply every command in force not applied yet (``commands`` as HGETALL returns
        them); the names of the breakers it moved."""
        moved = []
        for field, raw in commands.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            command = _parsed(raw)
            if command is None or command["id"] in self.applied:
                continue
            if float(command["issued_at"]) < now - COMMAND_TTL:
                continue
            self.applied.add(command["id"])
            if move_local(name, command["action"]):
                moved.append(name)
        return moved


def _parsed(raw: Any) -> dict[str, Any] | None:
    try:
        command = json.loads(raw)
        if command["action"] in ("open", "reset") and isinstance(command["id"], str):
            float(command["issued_at"])
            return dict(command)
    except (ValueError, TypeError, KeyError):
        pass
    return None


def move_local(name: str, action: str) -> bool:
    """Move this process's local breaker ``name`` (``open`` or ``reset``); False when it
    has none."""
    breaker = circuit_breakers().get(name)
    if breaker is None or breaker.stats().get("scope", "local") == "cluster":
        return False
    if action == "open":
        breaker.force_open()
    else:
        breaker.reset()
    return True
