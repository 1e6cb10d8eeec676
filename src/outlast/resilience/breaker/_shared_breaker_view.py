"""The shared state of a cluster circuit breaker as one process sees it, kept in step.

:class:`SharedBreakerView` holds the *view* (the shared state as Redis last reported it,
with the local monotonic deadline of an open breaker and the time its epoch was adopted),
the batch of outcomes not written yet, and the mode: "cluster" while Redis answers, else the
down policy's ("local-fallback", "fail-open", "fail-closed"). It is the member the link's
flusher and listener threads (:mod:`..shared._state_sync`) serve: it hands them its batch as one
SYNC call, adopts the views they bring back or hear published, and falls back, or resumes,
as Redis stops or starts answering. :class:`~._redis_breaker.RedisBreakerState` decides
calls from it.

A view replaces the current one only if it is newer: of the same key incarnation with a
write version as high, or of another incarnation (a restarted Redis, an expired key) made
no earlier in server time. A new epoch moves
``since``: outcomes of calls started before it count in the totals only.

A process may also move on its own (:meth:`SharedBreakerView._open_locally`): when its
pending outcomes complete a rule, or a half-open probe fails, it opens at once and its
batch carries the trip to Redis. Until a view of a later epoch arrives (Redis confirming
the trip, or another process's trip that won), views of the epoch it left update the
counters but not the state. The confirming flush reply's transition is not reported again:
each process reports an opening once, whether it found it or Redis did. Likewise, an
opening Redis makes when the outcomes kept while it was down reach it is not reported by
a process whose down-policy state is open already (it reported that one).

This module never decides whether a call may run, and never blocks a caller on Redis
except in ``flush()`` and in the constructor's first read.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import CircuitBreakerConfig, get_settings
from outlast.resilience.breaker._breaker_batch import (
    EMPTY_VIEW,
    Batch,
    View,
    parse_view,
    supersedes,
)
from outlast.resilience.breaker._breaker_state import CircuitState, LocalBreakerState, Transition
from outlast.resilience.breaker._redis_breaker_scripts import SYNC, config_args
from outlast.resilience.shared._redis_link import RedisLink
from outlast.resilience.shared._scope import DownPolicy
from outlast.resilience.shared._state_sync import Outgoing, StateSync, state_sync_for

__all__ = ["CLUSTER", "DownPolicy", "SharedBreakerView"]

log = logging.getLogger("outlast.resilience.breaker")


CLUSTER: Final = "cluster"
_MODES: Final[dict[str, str]] = {
    "local": "local-fallback",
    "fail_open": "fail-open",
    "fail_closed": "fail-closed",
}
_CLOSED, _OPEN = CircuitState.CLOSED, CircuitState.OPEN


class SharedBreakerView:
    """One process's view of breaker ``name`` in Redis, its unwritten outcomes, its mode."""

    def __init__(
        self,
        name: str,
        *,
        config: CircuitBreakerConfig,
        link: RedisLink,
        clock: Clock | None = None,
        down_policy: DownPolicy = "local",
        probe_lease: float = 30.0,
        flush_interval: float | None = None,
        sync_interval: float | None = None,
    ) -> None:
        if down_policy not in _MODES:
            raise ValueError(f"down_policy must be one of {sorted(_MODES)}, not {down_policy!r}")
        settings = get_settings()
        self.name = name
        self._config = config
        self._link = link
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._policy: DownPolicy = down_policy
        self._intervals = (
            flush_interval if flush_interval is not None else settings.state_flush_interval,
            sync_interval if sync_interval is not None else settings.state_sync_interval,
        )
        keys = (link.key("cb", name), link.key("cb", name, "cw"), link.key("cb", name, "tw"))
        base = config_args(config, name=name, channel=link.channel("cb"), probe_lease=probe_lease)
        self._keys, self._base_args = keys, base
        self._notify: Callable[[Transition], None] | None = None
        self._lock = threading.Lock()
        self._view = EMPTY_VIEW
        self._state = _CLOSED
        self._deadline = 0.0  # monotonic time an open view stops rejecting
        self._since = float("-inf")  # monotonic time the view's epoch was adopted
        self._hold_until = 0.0  # half-open and full: no admission round trip before this
        self._view_seen = 0.0  # monotonic time the view arrived
        self._provisional = False  # opened here; Redis has not confirmed it yet
        self._opened_from: tuple[str, int] | None = None  # batch tag last left by opening here
        self._loaded = False
        self._mode = CLUSTER
        self._local: LocalBreakerState | None = None
        self._batch = Batch(view_id="", epoch=0, limit=config.window_size)
        self._sent: Batch | None = None
        self._fast = False  # closed, in cluster mode, view loaded: admit with no more checks
        self._hub: StateSync | None = None
        self._attach()
        self.flush()  # start from the shared view (read-only unless outcomes are pending)

    def _attach(self) -> None:
        flush, sync = self._intervals
        hub = state_sync_for(self._link, kind="cb", flush_interval=flush, sync_interval=sync)
        self._hub = hub
        hub.add(self)

    def bind_notifier(self, notify: Callable[[Transition], None]) -> None:
        """Report transitions found by the flusher thread to ``notify`` (the breaker's)."""
        self._notify = notify

    def flush(self) -> bool:
        """Write pending outcomes and read the shared view now, on the caller's thread.

        Returns whether Redis answered. For tests and orderly shutdown; the flusher thread
        does this by itself.
        """
        if self._hub is None:
            self._attach()
        assert self._hub is not None
        return self._hub.flush([self], read=True)

    def _wake(self) -> None:
        """Flush now: an outcome that may move the state is pending."""
        hub = self._hub
        if hub is None:
            self._attach()
        else:
            hub.wake()

    # -- the shared view -----------------------------------------------------------------

    def _adopt(self, view: View, *, admitted_at: float | None = None, sent: bool = False) -> None:
        """Make ``view`` this process's view unless a newer one was adopted already;
        ``sent``: it is the reply to the batch in flight, which it now includes."""
        now = self._clock.monotonic()
        with self._lock:
            if sent:
                self._sent = None
            current = self._view
            if self._loaded and not supersedes(view, current):
                return
            if view.epoch != current.epoch or (view.id != current.id and current.id):
                self._since = now
                self._hold_until = 0.0
                self._batch.retag(view.id, view.epoch)
                self._provisional = False
            elif view.id != current.id:
                self._batch.view_id = view.id  # the key was created: same state, now named
            if admitted_at is not None and admitted_at < self._since:
                # Our own admission opened this epoch (the published view may have been
                # adopted first): the call admitted at ``admitted_at`` belongs to it.
                self._since = admitted_at
            self._view = view
            self._view_seen = now
            self._loaded = True
            if self._provisional:
                return  # a view of the state this process left: the counters only
            self._state = view.state
            self._deadline = now + view.remaining
            self._fast = self._mode == CLUSTER and view.state is _CLOSED

    def _open_locally(self, now: float, reason: str) -> Transition:
        """Open in this process at ``now`` (lock held); the batch takes the trip to Redis."""
        batch, old = self._batch, self._state
        batch.trip = reason
        self._opened_from = (batch.view_id, batch.epoch)
        self._provisional = True
        self._deadline = now + self._config.recovery_timeout  # before the state: see _decide
        self._since = now
        self._hold_until = 0.0
        self._fast = False
        self._state = _OPEN
        return Transition(old, _OPEN, reason)

    def _opened_here(self, sent: Batch | None) -> bool:
        """Whether this process opened the breaker on its own in the state ``sent`` was
        observed in (so an opening Redis made when it applied ``sent`` was reported)."""
        origin = self._opened_from
        return sent is not None and origin is not None and (sent.view_id, sent.epoch) == origin

    def _pending(self) -> list[Batch]:
        """The outcomes the view does not include yet, oldest first (lock held)."""
        batch, sent = self._batch, self._sent
        if sent is None or (sent.view_id, sent.epoch) != (batch.view_id, batch.epoch):
            return [batch]
        return [sent, batch]

    def _fall_back(self) -> None:
        """Redis did not answer: decide by ``down_policy`` until a flush reaches it again."""
        now = self._clock.monotonic()
        with self._lock:
            if self._mode != CLUSTER:
                return
            self._mode = _MODES[self._policy]
            self._fast = False
            if self._policy == "local":
                local = LocalBreakerState(config=self._config)
                local.restore(
                    state=self._state,
                    open_until=self._deadline,
                    consecutive=self._view.consecutive,
                    now=now,
                )
                self._local = local
        log.warning("circuit breaker %r: redis unavailable, mode %s", self.name, self._mode)

    def _resume(self, view: View) -> None:
        """Redis answers again: back to the shared state."""
        with self._lock:
            self._mode = CLUSTER
            self._local = None
            self._provisional = False  # the shared state wins
            self._loaded = False  # adopt the view whatever its version
        self._adopt(view)
        log.info("circuit breaker %r: redis answers again, back to cluster state", self.name)

    # -- what the flusher and listener threads call (SyncMember) ---------------------------

    def outgoing(self, *, read: bool) -> Outgoing | None:
        with self._lock:
            batch = self._batch
            if batch.empty and not read and self._mode == CLUSTER:
                return None
            self._batch = batch.successor()
            self._sent = batch
        return (SYNC, self._keys, (*self._base_args, *batch.args()))

    def delivered(self, reply: Any) -> Callable[[], None] | None:
        view, transition = parse_view(reply)
        sent = self._sent  # flushes are serialized: nothing else replaces it meanwhile
        told_open = False
        if self._mode != CLUSTER:
            local = self._local
            told_open = local is not None and local.state is _OPEN  # reported while down
            with self._lock:
                self._sent = None
            self._resume(view)
        else:
            self._adopt(view, sent=True)
        notify = self._notify
        if transition is None or notify is None:
            return None
        if transition.new is _OPEN and (told_open or self._opened_here(sent)):
            return None
        return functools.partial(notify, transition)

    def undelivered(self) -> None:
        with self._lock:
            sent, self._sent = self._sent, None
            if sent is not None:
                self._batch.absorb_older(sent)
        self._fall_back()

    def announced(self, payload: bytes) -> None:
        self._adopt(parse_view(payload.split(b"|", 14))[0])

    def detach_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._hub = None
        self._sent = None
        self._fast = False  # so the next admission re-attaches (see _decide)
