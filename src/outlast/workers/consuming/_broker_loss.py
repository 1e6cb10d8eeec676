"""The worker's consumer class: it survives a Redis broker that dies under it.

When the broker connection is lost, Celery's consumer first collects the connection (which
detaches kombu's transport from it) and then closes it. Closing the task channel makes
kombu restore the channel's unacknowledged messages, and with the transport detached the
Redis channel cannot even build a client: an ``AttributeError`` that is no connection
error escapes, and Celery stops the whole worker as an "Unrecoverable error" (seen with
celery 5.7.0 and kombu 5.7.0 when the broker's redis-server was SIGKILLed mid-delivery).

Restoring then can only fail (the broker is gone), and nothing is lost by not trying:
the messages stay in kombu's ``unacked`` hash, which the broker keeps, and kombu's
visibility-timeout sweep restores them. So before Celery handles a lost connection this
consumer switches off that restore for the connection's channels, and Celery reconnects as
it does for any other connection loss. Clean shutdowns restore as before. For the same
reason the tasks that were held when the connection was lost are never acknowledged on
its closed channel (the second ``AttributeError`` seen in that run, when such a task
finished after the reconnect).

It extends the letter-keeping consumer (``_consumer``) and never changes how messages
are received, acknowledged or restored on a live connection.
"""

from __future__ import annotations

from typing import Any

from celery.worker import state as worker_state

from outlast.workers.dead_letters._consumer import LetterKeepingConsumer

__all__ = ["BrokerLossConsumer"]


class BrokerLossConsumer(LetterKeepingConsumer):
    """The worker's consumer, minus the restore-at-close of a connection already lost."""

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        held = tuple(worker_state.reserved_requests)
        _skip_restore_at_close(self.connection)
        super().on_connection_error_after_connected(exc)
        _settle_on_lost_connection(held)


def _skip_restore_at_close(connection: Any) -> None:
    """Tell the QoS of each open channel of ``connection`` not to restore when closed."""
    transport = getattr(connection, "_transport", None) if connection is not None else None
    for channel in list(getattr(transport, "channels", None) or ()):
        qos = getattr(channel, "_qos", None)  # never create one: that may connect
        if qos is not None:
            qos.restore_at_shutdown = False


def _settle_on_lost_connection(requests: tuple[Any, ...]) -> None:
    """Never acknowledge or reject ``requests`` on the channel of the lost connection.

    A task still running when the connection was lost finishes later, and Celery would
    then acknowledge its message on the closed channel: kombu's Redis channel fails there
    with an ``AttributeError``, which stops the worker. The broker keeps such a message
    unacknowledged and delivers it again after the visibility timeout, which is the
    outcome Celery announces for it ("cannot be acknowledged after a connection loss"); the
    idempotency record makes its second run a no-op.
    """
    for request in requests:
        request.acknowledged = True
