"""Dead letters: work that could not be done, kept with everything a replay needs.

``await dead_letters.list()``, ``show(id)``, ``replay(id)`` and ``purge()`` work on the
store the settings name (or the ``store`` given). A replay enqueues the operation again
with the letter's arguments and idempotency key (every dead letter carries the key its
work ran under), so work that did complete meanwhile is not done twice, and records the
replay on the letter.
"""

from __future__ import annotations

import builtins

from outlast.store import DeadLetter, Store
from outlast.workers._store import worker_store
from outlast.workers.execution._envelope import ENVELOPE_KEY
from outlast.workers.sending._enqueue import enqueue

__all__ = ["list", "purge", "replay", "show"]


async def list(
    *, task_name: str | None = None, limit: int = 100, offset: int = 0, store: Store | None = None
) -> builtins.list[DeadLetter]:
    """Dead letters, most recently failed first (of one task, if given)."""
    return await (store or worker_store()).list_dead_letters(
        task_name=task_name, limit=limit, offset=offset
    )


async def show(letter_id: str, *, store: Store | None = None) -> DeadLetter | None:
    """One dead letter, or None."""
    return await (store or worker_store()).get_dead_letter(letter_id)


async def replay(letter_id: str, *, store: Store | None = None) -> str:
    """Enqueue the letter's work again; returns the new task id. KeyError if no such letter."""
    store = store or worker_store()
    letter = await store.get_dead_letter(letter_id)
    if letter is None:
        raise KeyError(f"no dead letter {letter_id!r}")
    kwargs = dict(letter.kwargs) if isinstance(letter.kwargs, dict) else {}
    key = _key_of(letter, kwargs.pop(ENVELOPE_KEY, None))
    sent = enqueue(letter.task_name, *letter.args, idempotency_key=key, **kwargs)
    await store.mark_dead_letter_replayed(letter_id, replay_task_id=sent["task_id"])
    return str(sent["task_id"])


def _key_of(letter: DeadLetter, envelope: object) -> str | None:
    """The letter's idempotency key; a letter stored before every letter carried its own
    may have it only in the envelope its arguments kept."""
    if letter.idempotency_key or not isinstance(envelope, dict):
        return letter.idempotency_key
    key = envelope.get("key")
    return key if isinstance(key, str) and key.strip() else None


async def purge(
    *, task_name: str | None = None, before: float | None = None, store: Store | None = None
) -> int:
    """Delete dead letters (of one task; failed at or before ``before``); the count."""
    return await (store or worker_store()).purge_dead_letters(task_name=task_name, before=before)
