"""What an operation's failed attempt tells the core's listeners (monitoring among them).

A failed attempt of an ``@operation`` task is published as ``CallFailed`` on the
resilience event bus, named by the operation, with the work's idempotency key as its
request id, its attempt number and its queue; monitoring records it as an error event of
the operation's service. Successes, and how long each took (a slow call past the
monitor's threshold), are reported by the attempt itself (``note_success``), as for any
``@handle_errors`` call.
"""

from __future__ import annotations

from outlast.resilience._events import CallFailed, publish
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._operations import OperationSpec

__all__ = ["publish_failure"]


def publish_failure(spec: OperationSpec, envelope: Envelope, error: BaseException) -> None:
    """Announce that one attempt of ``spec`` raised ``error`` (never raises)."""
    metadata = {"request_id": envelope.key, "queue": spec.queue, "task": spec.name}
    publish(CallFailed(spec.name, error, envelope.attempt, metadata))
