"""Which delivery tags a worker holds, written with kombu's own unacknowledged record.

kombu's Redis transport records each delivered message in the ``unacked`` hash and the
``unacked_index`` sorted set (scored by delivery time) and drops both at ack, reject or
restore. It does not record *which* consumer holds a message, so a dead worker's messages
come back only when their visibility timeout has passed. :class:`HeldQoS` is the task
channel's QoS with one command more in each of kombu's pipelines: at delivery the tag goes
into ``held:<worker>`` in the same MULTI as kombu's two writes, scored with the same time;
every way kombu drops a tag (ack, reject, restore) drops it there too. No extra round trip
per message, and a worker killed at any instant either holds a message in both records or
in neither. The equal score is the proof of ownership the orphan check relies on: a tag
restored and delivered again (to any worker) gets a new score.

It relies on two methods of kombu's ``kombu.transport.redis.QoS``: ``append`` (whose
writes it makes itself, the same as kombu's) and ``_remove_from_indices`` (which every
drop goes through). :func:`install` swaps it in on a channel before the channel has
received anything.
"""

from __future__ import annotations

import json
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual

from outlast._clock import SYSTEM_CLOCK, Clock

__all__ = ["HeldQoS", "install"]


class HeldQoS(kombu_redis.QoS):  # kombu is untyped: its calls below are marked
    """kombu's Redis QoS that also keeps the worker's ``held`` sorted set."""

    def __init__(
        self, channel: Any, prefetch_count: int = 0, *, held_key: str, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        super().__init__(channel, prefetch_count)  # type: ignore[no-untyped-call]
        self.held_key = held_key
        """The held set's name as the channel's prefixing client takes it."""
        self.clock = clock

    def append(self, message: Any, delivery_tag: str) -> None:
        """Record the delivery as kombu does, and as held by this worker, in one MULTI."""
        delivery = message.delivery_info
        entry = json.dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        score = self.clock.time()
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: score})
            pipe.hset(self.unacked_key, delivery_tag, entry)
            pipe.zadd(self.held_key, {delivery_tag: score})
            pipe.execute()
        virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        """kombu's drop of ``delivery_tag`` (ack, reject, restore), and from the held set."""
        pipe = super()._remove_from_indices(delivery_tag, pipe)  # type: ignore[no-untyped-call]
        return pipe.zrem(self.held_key, delivery_tag)


def install(channel: Any, *, held_key: str, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Give ``channel`` (kombu's Redis channel) a :class:`HeldQoS`; False, changing
    nothing, when it is no such channel or has already received messages."""
    if not isinstance(channel, kombu_redis.Channel):
        return False
    current = channel._qos
    if isinstance(current, HeldQoS) and current.held_key == held_key:
        return True
    if current is not None and current._delivered:
        return False
    prefetch = current.prefetch_count if current is not None else 0
    channel._qos = HeldQoS(channel, prefetch, held_key=held_key, clock=clock)
    return True
