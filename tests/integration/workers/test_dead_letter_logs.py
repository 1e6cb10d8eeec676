"""Each dead letter is logged once, by Outlast, with where it went and how to replay it.

A real prefork worker dead-letters three kinds of work: a non-retryable failure, retries
exhausted, and a message for a task nobody registered. Its log must hold exactly one line
per letter (naming the letter's id and the replay call), and none of Celery's own lines
for the same failures: no "raised unexpected", no traceback of the failure, no "ignored
and discarded".
Redis broker only: what is logged does not depend on the broker.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from celery import Celery

from _workers import WorkerProcess, enqueue_from_app
from outlast.store import DeadLetter, RedisStore

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)


async def letters_of(store: RedisStore, names: list[str], seconds: float) -> list[DeadLetter]:
    """One dead letter for each task name in ``names`` (fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        found = [await store.list_dead_letters(task_name=name) for name in names]
        if all(found) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert all(len(letters) == 1 for letters in found), found
    return [letters[0] for letters in found]


async def test_each_dead_letter_is_one_log_line_naming_its_replay(
    env: dict[str, str], worker: WorkerProcess, results: Celery, store: RedisStore, namespace: str
) -> None:
    """Non-retryable, exhausted and unknown-task letters: one line each, no Celery lines."""
    enqueue_from_app(
        env,
        [
            ["tests.refused", [f"{namespace}:refused"], {}, "log-1"],
            ["tests.flaky", [f"{namespace}:exhausted", 99], {}, "log-2"],
        ],
    )
    unknown = results.send_task("tests.nobody_home", args=[1], queue="operations")
    names = ["tests.refused", "tests.flaky", "tests.nobody_home"]
    letters = await letters_of(store, names, seconds=30)
    # The single process runs this after the failures above are fully handled (and logged).
    [done] = enqueue_from_app(env, [["tests.noop", [1], {}, None]])
    await asyncio.to_thread(results.AsyncResult(done["task_id"]).get, timeout=30)

    # The unknown task's sender still learns that it failed, and why.
    await asyncio.to_thread(unknown.get, timeout=30, propagate=False)
    assert (unknown.state, type(unknown.result).__name__) == ("FAILURE", "NotRegistered")

    lines = worker.log().splitlines()
    for letter in letters:
        about = [line for line in lines if letter.id in line]
        assert len(about) == 1, (letter.id, about)
        assert f"outlast.dead_letters.replay({letter.id!r})" in about[0]
        assert letter.reason in about[0]
        # A traceback of the failure would end with this line too.
        error = f"{letter.error_type.rsplit('.', 1)[-1]}: {letter.error_message}"
        assert len([line for line in lines if error in line]) == 1, error
    text = "\n".join(lines)
    assert "raised unexpected" not in text
    assert "ignored and discarded" not in text


async def test_an_unknown_task_in_content_the_worker_refuses_is_dead_lettered_raw(
    worker: WorkerProcess, results: Celery, store: RedisStore
) -> None:
    """An unknown task pickled (the worker takes JSON only): its letter keeps the raw body
    and the worker goes on taking work."""
    results.send_task("tests.nobody_pickled", args=[1], queue="operations", serializer="pickle")
    [letter] = await letters_of(store, ["tests.nobody_pickled"], seconds=30)
    assert letter.reason == "poison"
    [raw] = letter.args  # the raw body's repr
    assert isinstance(raw, str)
    after = results.send_task("tests.noop", args=[2], queue="operations")
    assert await asyncio.to_thread(after.get, timeout=30) == {"value": 2}
    assert worker.running
