"""The watchdog's decision: when a consumer counts as stalled, and how recovery escalates."""

from __future__ import annotations

from outlast.testing import FakeClock
from outlast.workers.consuming._watchdog import Action, Observation, Watch

STALLED = Observation(missing=(), waiting=5, busy=False)


def test_a_missing_consumer_is_readded_at_once() -> None:
    """A queue the worker no longer consumes is re-consumed at the first check."""
    watch = Watch(stall=10, clock=FakeClock())
    assert watch.decide(Observation(missing=("payments",), waiting=0, busy=False)) is (
        Action.RECONSUME
    )


def test_a_stall_escalates_one_step_per_stall_period() -> None:
    """Work waiting, a free process, nothing received: re-consume, reconnect, then exit,
    each only after another full stall period."""
    clock = FakeClock()
    watch = Watch(stall=10, clock=clock)
    actions = []
    for _ in range(8):
        clock.advance(5)
        actions.append(watch.decide(STALLED))
    nothing = Action.NOTHING
    assert actions == [
        nothing, Action.RECONSUME, nothing, Action.RECONNECT, nothing, Action.EXIT,
        nothing, Action.EXIT,
    ]  # fmt: skip


def test_a_received_message_or_a_busy_pool_resets_the_stall() -> None:
    """No escalation while every process is busy, nor after a message arrives."""
    clock = FakeClock()
    watch = Watch(stall=10, clock=clock)
    clock.advance(11)
    assert watch.decide(Observation(missing=(), waiting=5, busy=True)) is Action.NOTHING
    clock.advance(9)
    watch.received()
    clock.advance(9)
    assert watch.decide(STALLED) is Action.NOTHING
    clock.advance(2)
    assert watch.decide(STALLED) is Action.RECONSUME


def test_an_unknown_or_empty_queue_is_never_a_stall() -> None:
    """Without waiting work (or without a depth to read) nothing is done, however long."""
    clock = FakeClock()
    watch = Watch(stall=1, clock=clock)
    clock.advance(100)
    assert watch.decide(Observation(missing=(), waiting=None, busy=False)) is Action.NOTHING
    clock.advance(100)
    assert watch.decide(Observation(missing=(), waiting=0, busy=False)) is Action.NOTHING


def test_a_stall_that_outlives_a_reconnect_ends_in_exit() -> None:
    """A restart of the consumer gives it a full stall period but does not start the
    escalation over: still stalled after the reconnect, the worker exits."""
    clock = FakeClock()
    watch = Watch(stall=10, clock=clock)
    clock.advance(10)
    assert watch.decide(STALLED) is Action.RECONSUME
    clock.advance(10)
    assert watch.decide(STALLED) is Action.RECONNECT
    clock.advance(3)
    watch.restarted()
    clock.advance(9)
    assert watch.decide(STALLED) is Action.NOTHING
    clock.advance(1)
    assert watch.decide(STALLED) is Action.EXIT
