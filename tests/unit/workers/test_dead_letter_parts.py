"""The parts of dead-lettering that need no worker: a poison letter's key, the back-off of
a letter the store refused, and the filter that keeps one log line per dead letter."""

from __future__ import annotations

import logging
import pickle
import time

import pytest
from celery.exceptions import Reject

from outlast.workers.dead_letters._keep_letter import (
    FIRST_DELAY,
    MAX_DELAY,
    LetterNotKept,
    keep_delay,
    requeue_at_once,
    requeue_later,
)
from outlast.workers.dead_letters._letter_log import quiet_failure_log
from outlast.workers.dead_letters._poison import poison_letter


def test_a_poison_letter_takes_its_key_and_attempt_from_the_envelope() -> None:
    """The envelope leaves the arguments; its key and attempt go on the letter."""
    body = [[1], {"x": 2, "_outlast": {"key": "order-9", "attempt": 3}}, {}]
    letter = poison_letter(name="gone.task", task_id="t-1", body=body, error=KeyError("gone"))
    assert (letter.args, letter.kwargs) == ([1], {"x": 2})
    assert (letter.idempotency_key, letter.attempts) == ("order-9", 3)


def test_a_poison_letter_without_an_envelope_is_keyed_by_its_task_id() -> None:
    """A message sent without an envelope runs under its task id: so does its replay."""
    letter = poison_letter(name="gone.task", task_id="t-2", body=[[], {}, {}], error=KeyError())
    assert (letter.idempotency_key, letter.kwargs) == ("t-2", {})


def test_a_poison_letter_with_a_malformed_envelope_keeps_its_arguments_as_they_came() -> None:
    """An envelope that cannot be read is not dropped: it stays in the letter's kwargs."""
    kwargs = {"_outlast": {"key": "k", "attempt": "many"}}
    letter = poison_letter(name="gone.task", task_id="t-3", body=[[], kwargs, {}], error=KeyError())
    assert (letter.kwargs, letter.idempotency_key) == (kwargs, "t-3")


def test_a_raw_body_without_id_or_envelope_has_no_key() -> None:
    """Nothing to key by: the letter says so rather than inventing a key."""
    letter = poison_letter(name="", task_id=None, body=b"\x00junk", error=ValueError("bad"))
    assert (letter.task_name, letter.idempotency_key) == ("<unknown>", None)
    assert letter.args == [repr(b"\x00junk")]


def test_a_refused_letter_is_offered_again_after_doubling_delays_up_to_a_minute() -> None:
    """5, 10, 20, 40 s, then 60 s every time: a letter that keeps failing never loops hot."""
    assert [keep_delay(tries) for tries in range(7)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    assert keep_delay(10_000) == MAX_DELAY
    assert keep_delay(0) == FIRST_DELAY


def _trace_record(task_id: str, description: str) -> logging.LogRecord:
    """A record as Celery's trace logger makes it for a task's outcome."""
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1, "x", (), None)
    record.data = {"id": task_id, "description": description}
    return record


def test_celerys_failure_line_is_dropped_once_for_a_dead_lettered_task_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The marked task's "raised unexpected" record is dropped, once; others pass."""
    trace = logging.getLogger("celery.app.trace")
    quiet_failure_log("dead-1")
    with caplog.at_level(logging.INFO, logger="celery.app.trace"):
        for task_id, description in [
            ("dead-1", "raised unexpected"),
            ("dead-1", "raised unexpected"),  # a second failure of the same id is logged
            ("other", "raised unexpected"),
            ("dead-1", "ignored"),
        ]:
            trace.handle(_trace_record(task_id, description))
    logged = [(r.data["id"], r.data["description"]) for r in caplog.records]  # type: ignore[attr-defined]
    assert logged == [
        ("dead-1", "raised unexpected"),
        ("other", "raised unexpected"),
        ("dead-1", "ignored"),
    ]


def test_a_letter_not_kept_crosses_from_the_pool_to_the_worker_intact() -> None:
    """The Reject that requeues the message is pickled from the pool process to the main
    one: its reason must come back whole (an exception that does not unpickle stops the
    worker with "Unrecoverable error")."""
    sent = Reject(LetterNotKept("t-1:1:exhausted", 20.0), requeue=True)
    received = pickle.loads(pickle.dumps(sent))
    assert received.requeue is True
    assert (received.reason.letter_id, received.reason.delay) == ("t-1:1:exhausted", 20.0)
    assert "t-1:1:exhausted" in str(received.reason)


def test_the_main_process_requeues_a_letter_not_kept_without_waiting() -> None:
    """Inside requeue_at_once (the worker's main process) the requeue skips the letter's delay."""
    started = time.monotonic()
    with requeue_at_once(), pytest.raises(Reject) as rejected:
        requeue_later(LetterNotKept("dl-1", delay=30.0))
    assert time.monotonic() - started < 1.0
    assert rejected.value.requeue is True
