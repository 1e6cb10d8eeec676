"""The orphan check: a dead worker's unacknowledged messages go back to their queues, once.

A worker is dead when it is in the registry (``outlast:<ns>:orphans:workers``) but its
heartbeat key has expired (``_heartbeat``), and the broker's Redis has been up longer than
a heartbeat lasts (a Redis restarted under live workers lost their beats, not them).
Each delivery tag in its held set (``_held_deliveries``) whose score still equals the
score in kombu's ``unacked_index`` is the dead worker's: one Lua script per batch takes
it out of ``unacked`` and ``unacked_index`` and pushes it onto the list kombu's own
restore would push it to (same queue, same priority list, marked redelivered, computed
by kombu's channel). Everything happens in the script or not at all, and only while the
heartbeat is still absent; a tag already acknowledged, restored, or delivered again since
(a new score) is only dropped from the held set. So the message runs once more, whoever
runs the check and however many run it at once, and kombu's visibility-timeout sweep later
finds nothing of it to restore. Once its held set is empty the worker leaves the registry.
The report says, per dead worker, how many messages this check itself moved and to which
queues (the script answers which entries it moved), so only the checker that moved them
records the move (``_orphan_records``).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from outlast.workers.orphans._orphan_keys import OrphanKeys

__all__ = ["CheckReport", "KombuRestore", "OrphanCheck", "Restore"]

log = logging.getLogger("outlast.workers.orphans")

_BATCH: Final = 200
_PRIORITY_SUFFIX: Final = re.compile("\x06\x16[0-9]+$")  # kombu's list per priority

Restore = Callable[[bytes | str], list[tuple[str, str]]]
"""The (full list key, payload) pairs kombu's restore pushes for one ``unacked`` entry."""

# KEYS: unacked, unacked_index, held set, heartbeat, then the lists messages go back to.
# ARGV: per tag (tag, held score, payload, KEYS indices of its lists, comma-separated).
# Answers -1 when the worker beats again, else the 1-based positions of the tags it moved.
_MOVE = """
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local moved = {}
for i = 1, #ARGV, 4 do
  local tag, score, payload, targets = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  if tonumber(redis.call('ZSCORE', KEYS[3], tag)) == score then
    local theirs = tonumber(redis.call('ZSCORE', KEYS[2], tag)) == score
      and redis.call('HEXISTS', KEYS[1], tag) == 1
    if not theirs then
      redis.call('ZREM', KEYS[3], tag)
    elseif targets ~= '' then
      redis.call('ZREM', KEYS[2], tag)
      redis.call('HDEL', KEYS[1], tag)
      for index in string.gmatch(targets, '%d+') do
        redis.call('RPUSH', KEYS[tonumber(index)], payload)
      end
      redis.call('ZREM', KEYS[3], tag)
      moved[#moved + 1] = (i + 3) / 4
    end
  end
end
return moved
"""

# KEYS: heartbeat, held set, registry. ARGV: worker id. Forget a dead worker holding nothing.
_FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What one check did: the dead workers it found and how many messages it moved,
    in all and per queue (``queues``: dead worker -> queue -> messages)."""

    dead: tuple[str, ...] = ()
    moved: dict[str, int] = field(default_factory=dict)
    queues: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.moved.values())


class KombuRestore:
    """What kombu's Redis channel would push to restore an ``unacked`` entry, recorded
    instead of sent (its ``_do_restore_message``: queue lookup, priority list, flags)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def __call__(self, raw: bytes | str) -> list[tuple[str, str]]:
        message, exchange, routing_key = json.loads(raw)
        pushes = _Pushes()
        self.channel._do_restore_message(message, exchange, routing_key, pushes, leftmost=False)
        prefix = str(self.channel.global_keyprefix or "")
        return [(prefix + key, value) for key, value in pushes.calls]


class _Pushes:
    """Stands for the pipeline kombu restores into: keeps each push."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def rpush(self, key: str, value: str) -> None:
        self.calls.append((str(key), value))

    lpush = rpush


class OrphanCheck:
    """Finds dead workers on one Redis broker and moves their messages back, once."""

    def __init__(self, client: redis.Redis, keys: OrphanKeys, *, ttl: float) -> None:
        self.client = client
        self.keys = keys
        self.ttl = ttl
        self._move = client.register_script(_MOVE)
        self._forget = client.register_script(_FORGET)

    def dead_workers(self) -> list[str]:
        """Registered workers whose heartbeat lapsed (none while Redis is freshly up)."""
        workers = sorted(_text(w) for w in self.client.smembers(self.keys.workers))
        if not workers:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for worker in workers:
                pipe.exists(self.keys.alive(worker))
            alive = pipe.execute()
        dead = [w for w, beating in zip(workers, alive, strict=True) if not beating]
        return dead if dead and self._up_long_enough() else []

    def run(self, restore: Callable[[], Restore]) -> CheckReport:
        """One check: each dead worker's messages moved back; ``restore`` is called (once)
        only when there is a dead worker."""
        dead = self.dead_workers()
        if not dead:
            return CheckReport()
        pushes = restore()
        queues = {worker: self.requeue_to_queues(worker, pushes) for worker in dead}
        moved = {worker: sum(counts.values()) for worker, counts in queues.items()}
        for worker, count in moved.items():  # a clean exit leaves nothing to move
            level = logging.WARNING if count else logging.DEBUG
            log.log(level, "orphans: worker=%s dead, %d message(s) moved back", worker, count)
        by_queue = {worker: dict(counts) for worker, counts in queues.items()}
        return CheckReport(dead=tuple(dead), moved=moved, queues=by_queue)

    def requeue(self, worker: str, restore: Restore) -> int:
        """Move the messages ``worker`` held back to their queues; how many moved (0
        when its heartbeat is back)."""
        return sum(self.requeue_to_queues(worker, restore).values())

    def requeue_to_queues(self, worker: str, restore: Restore) -> Counter[str]:
        """Like :meth:`requeue`; how many messages this call moved to each queue."""
        held = self.keys.held(worker)
        entries: list[Any] = self.client.zrange(
            held, 0, -1, desc=True, withscores=True, score_cast_func=_text
        )
        moved: Counter[str] = Counter()
        for start in range(0, len(entries), _BATCH):
            batch = self._move_batch(worker, entries[start : start + _BATCH], restore)
            if batch is None:
                return moved  # alive again: it keeps what it holds
            moved.update(batch)
        self._forget(keys=[self.keys.alive(worker), held, self.keys.workers], args=[worker])
        return moved

    def _move_batch(
        self, worker: str, entries: Sequence[tuple[Any, str]], restore: Restore
    ) -> Counter[str] | None:
        """Messages moved per queue by one script run; None when the worker beats again."""
        tags = [_text(tag) for tag, _ in entries]
        raws = self.client.hmget(self.keys.unacked, tags)
        keys = [self.keys.unacked, self.keys.unacked_index, self.keys.held(worker)]
        keys.append(self.keys.alive(worker))
        args: list[str] = []
        for tag, (_, score), raw in zip(tags, entries, raws, strict=True):
            payload, targets = _targets(tag, raw, restore, keys)
            args += [tag, score, payload, targets]
        answer = self._move(keys=keys, args=args)
        if not isinstance(answer, list):
            return None
        return Counter(
            queue
            for position in answer
            for queue in self._queues_of(keys, args[int(position) * 4 - 1])
        )

    def _queues_of(self, keys: list[str], targets: str) -> set[str]:
        """The queues behind a moved tag's list indices (a priority list is its queue)."""
        lists = (keys[int(index) - 1] for index in targets.split(","))
        return {_PRIORITY_SUFFIX.sub("", key.removeprefix(self.keys.keyprefix)) for key in lists}

    def _up_long_enough(self) -> bool:
        try:
            uptime = float(self.client.info("server").get("uptime_in_seconds", 0))
        except redis.ResponseError:  # INFO refused (a managed Redis): trust the heartbeats
            return True
        return uptime >= self.ttl


def _targets(
    tag: str, raw: bytes | str | None, restore: Restore, keys: list[str]
) -> tuple[str, str]:
    """The payload for ``tag`` and the indices (1-based, into ``keys``, which grows) of the
    lists it goes to; no lists when it is gone or kombu could not place it."""
    if raw is None:
        return "", ""
    pushes = restore(raw)
    if not pushes:
        log.error("orphans: no queue to move %s back to; left to the visibility timeout", tag)
        return "", ""
    indices = []
    for key, _ in pushes:
        if key not in keys:
            keys.append(key)
        indices.append(str(keys.index(key) + 1))
    return pushes[0][1], ",".join(indices)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
