"""``outlast_reconnect``: a remote-control command that makes a worker drop its broker
connection and reconnect, as its own watchdog does when its consumer stalls.

A worker whose consuming connection froze (a black-holed socket, a broker that came back
without its consumers) still answers remote control, which travels on another connection;
re-adding a consumer on the frozen connection changes nothing. The health sweep sends this
command when a worker never took the canary sent to it. The worker answers at once and
raises :class:`~outlast.workers.consuming._watchdog.WatchdogReconnect` on its event loop a
moment later, so Celery re-establishes the connection and every consumer; messages it held
unacknowledged go back to their queues as on any reconnect.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from celery.worker.control import control_command

from outlast.workers.consuming._watchdog import WatchdogReconnect

__all__ = ["RECONNECT_COMMAND", "reconnect"]

log = logging.getLogger("outlast.workers.watchdog")

RECONNECT_COMMAND: Final = "outlast_reconnect"


@control_command(name=RECONNECT_COMMAND)
def reconnect(state: Any, **_: Any) -> dict[str, str]:
    """Drop the broker connection and reconnect every consumer (answers before it does)."""
    consumer = state.consumer
    consumer.timer.call_after(0.0, _raise_reconnect, (consumer.hostname,))
    return {"ok": "reconnecting"}


def _raise_reconnect(hostname: str) -> None:
    log.warning("worker=%s reconnecting to the broker, as the health sweep asked", hostname)
    raise WatchdogReconnect("outlast: reconnecting to the broker, as the health sweep asked")
