"""The consumption check's decision: a worker that lost a queue it consumed, a queue that
grows while its consumers start nothing, and a canary its idle consumers never ran are
findings; busy workers and new queues are not."""

from __future__ import annotations

from typing import Any

from outlast.workers.health._canary import canary_findings
from outlast.workers.health._consumption_check import Finding, Observation, findings


def seen(
    consuming: dict[str, list[str]], started: dict[str, int], depths: dict[str, int | None]
) -> Observation:
    return Observation(consuming=consuming, started=started, depths=depths)


def test_a_lost_queue_is_found_against_what_the_worker_consumed_before() -> None:
    """First sight remembers w1's queues; once `emails` is gone from them, it is a finding."""
    first, memory = findings(seen({"w1": ["emails", "recovery"]}, {}, {}), {}, now=100.0)
    assert first == []
    later, memory = findings(seen({"w1": ["recovery"]}, {}, {}), memory, now=130.0)
    assert later == [Finding("lost_queue", "w1", "emails")]
    assert memory["workers"]["w1"]["queues"] == ["emails", "recovery"]


def test_a_queue_growing_while_no_task_starts_is_stalled() -> None:
    """Depth 3 then 5 and the consumer's task count unchanged: every consumer of it is
    reported; had it started a task, or were it running one now, nothing would be."""
    before: dict[str, Any] = {}
    _, before = findings(seen({"w1": ["emails"]}, {"w1": 10}, {"emails": 3}), before, 0.0)
    stalled, _ = findings(seen({"w1": ["emails"]}, {"w1": 10}, {"emails": 5}), before, 30.0)
    assert stalled == [Finding("stalled_queue", "w1", "emails")]
    started, _ = findings(seen({"w1": ["emails"]}, {"w1": 12}, {"emails": 5}), before, 30.0)
    assert started == []
    running = Observation({"w1": ["emails"]}, {"w1": 10}, {"emails": 5}, busy={"w1": 1})
    assert findings(running, before, 30.0)[0] == []


def test_an_unknown_depth_or_a_shrinking_queue_is_not_stalled() -> None:
    """No depth (not Redis) or a queue that drains: no finding."""
    _, before = findings(seen({"w1": ["q"]}, {"w1": 1}, {"q": 5}), {}, 0.0)
    assert findings(seen({"w1": ["q"]}, {"w1": 1}, {"q": None}), before, 1.0)[0] == []
    assert findings(seen({"w1": ["q"]}, {"w1": 1}, {"q": 2}), before, 1.0)[0] == []


def test_a_worker_unseen_for_an_hour_is_forgotten() -> None:
    """A worker gone for good is not remembered for ever (nor repaired)."""
    _, memory = findings(seen({"old": ["emails"]}, {}, {}), {}, now=0.0)
    _, memory = findings(seen({"new": ["emails"]}, {}, {}), memory, now=4000.0)
    assert set(memory["workers"]) == {"new"}


def test_a_canary_not_run_while_its_consumers_idle_is_lost() -> None:
    """Past the timeout, still PENDING, consumers idle: each consumer is a finding; a busy
    consumer, a canary that ran, or one still within its time are not."""
    pending = {"emails": {"id": "c1", "sent_at": 0.0}, "payments": {"id": "c2", "sent_at": 0.0}}
    consuming = {"w1": ["emails"], "w2": ["payments"]}
    lost, out = canary_findings(
        pending, {"c1": "PENDING", "c2": "SUCCESS"}, consuming, {}, now=11.0, timeout=10.0
    )
    assert (lost, out) == ([("w1", "emails")], {})
    busy, _ = canary_findings(pending, {}, consuming, {"w1": 1, "w2": 1}, now=11.0, timeout=10.0)
    assert busy == []
    early, out = canary_findings(pending, {}, consuming, {}, now=5.0, timeout=10.0)
    assert early == []
    assert set(out) == {"emails", "payments"}
