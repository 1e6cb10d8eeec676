"""Recipients the relay refused while it took the message for the others.

Sending the whole message again would give the accepted recipients a second copy, so the
refused ones become work of their own, keeping the Message-ID: those refused for now (a
4xx reply to RCPT) get a follow-up send to them alone, after the retry profile's first
delay; those refused for good (5xx) get a dead letter that replays as a send to them
alone. Nothing is lost and nobody gets the message twice.

The follow-up's idempotency key and the dead letter's id derive from the Message-ID and
the recipients, so a send that runs again (redelivered before its result was stored)
makes the same follow-up, which then runs once, and the same dead letter, stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from outlast._clock import SYSTEM_CLOCK
from outlast.store import DeadLetter
from outlast.tasks._smtp import EmailRejectedError
from outlast.workers import enqueue
from outlast.workers._store import worker_store

__all__ = ["settle_refused"]

REJECTED = "recipients_rejected"


async def settle_refused(
    task_name: str, email: Mapping[str, Any], refused: Mapping[str, int], *, delay: float
) -> dict[str, list[str]]:
    """Send to the recipients refused for now again later; dead-letter those refused for
    good. Returns who is ``retrying`` and who is ``dead_lettered``."""
    later = sorted(address for address, code in refused.items() if 400 <= code < 500)
    never = sorted(address for address in refused if address not in later)
    if later:
        kwargs = _send_kwargs(email, later)
        enqueue(task_name, idempotency_key=_key(email, later, "retry"), countdown=delay, **kwargs)
    if never:
        await worker_store().add_dead_letter(_letter(task_name, email, never, refused))
    return {"retrying": later, "dead_lettered": never}


def _send_kwargs(email: Mapping[str, Any], to: list[str]) -> dict[str, Any]:
    """The send task's arguments for the same message to ``to`` only."""
    fields = ("subject", "body", "html", "message_id")
    return {"to": to, **{name: email.get(name) for name in fields}}


def _key(email: Mapping[str, Any], recipients: list[str], kind: str) -> str:
    digest = hashlib.sha256("\n".join([email["message_id"], *recipients]).encode()).hexdigest()
    return f"email-{kind}-{digest[:32]}"


def _letter(
    task_name: str, email: Mapping[str, Any], never: list[str], refused: Mapping[str, int]
) -> DeadLetter:
    codes = ", ".join(f"{address} ({refused[address]})" for address in never)
    error = EmailRejectedError(f"the relay refused recipients for good: {codes}")
    key = _key(email, never, "rejected")
    return DeadLetter(
        id=key,
        task_name=task_name,
        reason=REJECTED,
        error_type=f"{type(error).__module__}.{type(error).__qualname__}",
        error_message=str(error),
        failed_at=SYSTEM_CLOCK.time(),
        args=[],
        kwargs=_send_kwargs(email, never),
        queue="emails",
        idempotency_key=key,
    )
