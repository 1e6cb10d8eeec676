"""What a cluster breaker keeps in memory: its view of the shared state, and the outcomes
it has not written yet.

A :class:`View` is the shared state as one Lua script last returned or published it. A
:class:`Batch` holds the outcomes observed since the last flush, merged so that its size
never grows with traffic: totals are counters; the consecutive-failure rule needs only the
failures before the first success, the longest run after it and the trailing run; a time
window needs counts (the whole batch lands in the server's current second); a count window
needs the outcome codes in order, since its rules are checked after each one. A batch keeps
between ``window_size`` and twice that many of the latest codes: exact while a flush
interval sees no more calls than that; beyond, the oldest of the batch are forgotten.

A batch is tagged with the view's incarnation ``id`` and ``epoch``: only outcomes observed
in the state Redis is still in may move it; the others only add to the totals. A batch whose
outcomes opened the breaker in this process (:mod:`._local_trip`) carries the reason in
``trip``: Redis opens the breaker for it even if its own rules, applied to a view that moved
on since (another process's success), would not, as long as it is still in the batch's
state. The process has already opened and reported it; one state for all wins over a
process open on its own.

Nothing here locks, reads a clock or talks to Redis; the breaker state that owns these
objects does, under its lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from outlast.resilience.breaker._breaker_state import CircuitState, Transition

__all__ = ["EMPTY_VIEW", "Batch", "View", "parse_view", "supersedes"]

_FAILED = 1
_SLOW = 2


class View(NamedTuple):
    """The shared state of one breaker as Redis reported it."""

    id: str
    ver: int
    epoch: int
    state: CircuitState
    remaining: float
    """Seconds an open breaker still rejects, counted from when Redis answered."""
    consecutive: int
    successes: int
    failures: int
    rejected: int
    window_calls: int
    window_failures: int
    window_slow: int
    at: int = 0
    """Server time (ms) when Redis made this view."""


EMPTY_VIEW = View("", 0, 0, CircuitState.CLOSED, 0.0, 0, 0, 0, 0, 0, 0, 0)
"""What a breaker assumes before Redis has answered: a fresh, closed breaker."""


def parse_view(fields: Sequence[object]) -> tuple[View, Transition | None]:
    """A script's reply (or a published message split on ``|``) as a view, and the
    transition the script made, if any."""
    text = [f.decode() if isinstance(f, bytes) else str(f) for f in fields[:15]]
    state = CircuitState(text[3])
    cons, succ, fail, rej, calls, failed, slow = (int(value) for value in text[5:12])
    view = View(
        text[0], int(text[1]), int(text[2]), state, int(text[4]) / 1000.0,
        cons, succ, fail, rej, calls, failed, slow, int(text[14]),
    )  # fmt: skip
    old, reason = text[12], text[13]
    return view, Transition(CircuitState(old), state, reason) if old else None


def supersedes(view: View, current: View) -> bool:
    """Whether ``view`` is at least as new as ``current``: within one incarnation of the
    key the write version says; across incarnations the server time it was made says (a
    read sent before the key was created may come back after the key's first published
    view, and must not undo it)."""
    if view.id == current.id:
        return view.ver >= current.ver
    return view.at >= current.at


class Batch:
    """Outcomes observed since the last flush, for the view tagged ``view_id``/``epoch``."""

    __slots__ = (
        "codes",
        "epoch",
        "failures",
        "lead",
        "limit",
        "longest",
        "probe_failures",
        "probe_releases",
        "probe_successes",
        "rejected",
        "run",
        "saw_success",
        "successes",
        "trip",
        "view_id",
        "window_calls",
        "window_failures",
        "window_slow",
    )

    def __init__(self, *, view_id: str, epoch: int, limit: int) -> None:
        self.view_id = view_id
        self.epoch = epoch
        self.limit = limit
        self.successes = 0
        self.failures = 0
        self.rejected = 0
        self._clear_state_parts()

    def _clear_state_parts(self) -> None:
        self.lead = 0
        self.run = 0
        self.longest = 0
        self.saw_success = False
        self.codes = bytearray()
        self.window_calls = 0
        self.window_failures = 0
        self.window_slow = 0
        self.probe_successes = 0
        self.probe_failures = 0
        self.probe_releases = 0
        self.trip = ""

    def successor(self) -> Batch:
        """An empty batch with the same tag (to collect while this one is sent)."""
        return Batch(view_id=self.view_id, epoch=self.epoch, limit=self.limit)

    def retag(self, view_id: str, epoch: int) -> None:
        """The state moved on: outcomes so far count only in the totals."""
        self.view_id = view_id
        self.epoch = epoch
        self._clear_state_parts()

    def closed_failure(self) -> int:
        """A failure in the closed state; returns the run of failures it ends (since the
        last success in this batch, or since the batch began)."""
        if self.saw_success:
            self.run += 1
            self.longest = max(self.longest, self.run)
            return self.run
        self.lead += 1
        return self.lead

    def window_outcome(self, failed: bool, slow: bool) -> None:
        """A closed-state outcome for the sliding window."""
        codes = self.codes
        codes.append(48 + (_FAILED if failed else 0) + (_SLOW if slow else 0))
        if len(codes) > 2 * self.limit:
            del codes[: len(codes) - self.limit]
        self.window_calls += 1
        self.window_failures += failed
        self.window_slow += slow

    @property
    def empty(self) -> bool:
        """Whether there is nothing to write."""
        return not (
            self.successes
            or self.failures
            or self.rejected
            or self.probe_releases
            or self.window_calls
        )

    def args(self) -> tuple[object, ...]:
        """ARGV 13-29 of the SYNC script."""
        return (
            self.view_id,
            self.epoch,
            self.successes,
            self.failures,
            self.rejected,
            self.lead,
            self.run,
            self.longest,
            "1" if self.saw_success else "0",
            self.codes.decode(),
            self.window_calls,
            self.window_failures,
            self.window_slow,
            self.probe_successes,
            self.probe_failures,
            self.probe_releases,
            self.trip,
        )

    def absorb_older(self, older: Batch) -> None:
        """Put ``older`` (a batch that could not be sent) in front of this one."""
        self.successes += older.successes
        self.failures += older.failures
        self.rejected += older.rejected
        if (older.view_id, older.epoch) != (self.view_id, self.epoch):
            return  # its state parts belong to a state that has passed
        if older.saw_success:
            self.longest = max(older.longest, older.run + self.lead, self.longest)
            if self.saw_success:
                self.lead = older.lead
            else:
                self.run = older.run + self.lead
                self.longest = max(self.longest, self.run)
                self.lead = older.lead
        else:
            self.lead += older.lead
        self.saw_success = self.saw_success or older.saw_success
        self.codes[:0] = older.codes
        self.window_calls += older.window_calls
        self.window_failures += older.window_failures
        self.window_slow += older.window_slow
        self.probe_successes += older.probe_successes
        self.probe_failures += older.probe_failures
        self.probe_releases += older.probe_releases
        self.trip = older.trip or self.trip
