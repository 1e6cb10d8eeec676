"""Canary tasks: a queue whose consumers are idle yet never take a task sent to it.

Each health sweep sends one ``outlast.recovery.canary`` task to every queue a worker
consumes (unless one is still out) and reads, at the next sweep, whether the ones it sent
ran. A canary still not run after ``timeout`` seconds, while every worker consuming its
queue runs no task at all, means those workers do not take from that queue although they
list it in ``active_queues`` (Celery #8030, #10205, #10302): each is a finding. A busy
worker is given the benefit of the doubt (its canary waits behind real work). On any
broker: RabbitMQ has no queue depth to read, but canaries still round-trip. The decision
(``canary_findings``) is pure; sending and reading results touch the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CANARY_TASK", "canary_findings", "canary_states", "send_canaries"]

CANARY_TASK = "outlast.recovery.canary"

_RAN = frozenset({"STARTED", "SUCCESS", "FAILURE", "RETRY"})


def canary_findings(
    pending: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, str],
    consuming: Mapping[str, list[str]],
    busy: Mapping[str, int],
    *,
    now: float,
    timeout: float,
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(worker, queue) pairs whose canary was lost, and the canaries still out (pure)."""
    lost: list[tuple[str, str]] = []
    still_out: dict[str, Any] = {}
    for queue, canary in sorted(pending.items()):
        if states.get(str(canary.get("id")), "PENDING") in _RAN:
            continue
        if now - float(canary.get("sent_at", now)) < timeout:
            still_out[queue] = dict(canary)
            continue
        consumers = sorted(w for w, queues in consuming.items() if queue in queues)
        if consumers and not any(busy.get(w, 0) for w in consumers):
            lost += [(worker, queue) for worker in consumers]
    return lost, still_out


def canary_states(app: Any, ids: Iterable[str]) -> dict[str, str]:
    """Each canary's state in the result backend (PENDING until a worker starts it)."""
    return {task_id: str(app.AsyncResult(task_id).state) for task_id in ids}


def send_canaries(app: Any, queues: Iterable[str], *, now: float, expires: float) -> dict[str, Any]:
    """Send a canary to each queue; what to remember of them, by queue."""
    sent: dict[str, Any] = {}
    for queue in queues:
        result = app.send_task(CANARY_TASK, queue=queue, expires=expires)
        sent[queue] = {"id": result.id, "sent_at": now}
    return sent
