"""Warnings a worker logs once, as it becomes ready, about the queues it consumes.

A worker consuming ``payments`` without ``OUTLAST_PAYMENT_GATEWAY_URL``, or ``emails`` with
SMTP settings that are wrong or a relay that does not accept a connection, would otherwise
start quietly and dead-letter every message of that queue. So would a worker consuming a
queue that is not declared (``celery -A outlast.workers worker -Q paymnets``): nothing is
routed there. Each such problem is one WARNING line on the ``outlast.workers`` logger, for
``outlast worker`` and ``celery -A outlast.workers worker`` alike (a ``worker_ready``
handler). The checks never stop a worker and never raise: the worker may serve its other
queues, and the endpoint may come up later.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import Any

from celery import signals

from outlast.config import get_email_settings, get_payment_settings
from outlast.errors import SettingsError
from outlast.workers._queues import QUEUES

__all__ = ["endpoint_problems", "warn_about_consumed_queues"]

log = logging.getLogger("outlast.workers")

_PROBE_TIMEOUT = 2.0


def _payment_problem() -> str | None:
    try:
        settings = get_payment_settings()
    except SettingsError as exc:
        return f"queue 'payments': {exc}; every payment will be dead-lettered until it is fixed"
    if not settings.payment_gateway_url:
        return (
            "queue 'payments' is consumed but OUTLAST_PAYMENT_GATEWAY_URL is not set: "
            "every payment will be dead-lettered until it is"
        )
    return None


def _relay_answers(host: str, port: int, timeout: float) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _email_problem() -> str | None:
    try:
        settings = get_email_settings()
    except SettingsError as exc:
        return f"queue 'emails': {exc}; every email will be dead-lettered until it is fixed"
    timeout = min(settings.smtp_timeout, _PROBE_TIMEOUT)
    if not _relay_answers(settings.smtp_host, settings.smtp_port, timeout):
        return (
            f"queue 'emails' is consumed but no SMTP relay accepts a connection at "
            f"{settings.smtp_host}:{settings.smtp_port} (OUTLAST_SMTP_HOST, OUTLAST_SMTP_PORT): "
            "emails will fail until one does"
        )
    return None


def endpoint_problems(queues: Iterable[str]) -> list[str]:
    """One sentence per consumed queue that cannot do its work as configured."""
    consumed = list(queues)
    problems: list[str | None] = [
        f"queue {name!r} is consumed but not declared (declared: {', '.join(QUEUES)}): "
        "no task is routed to it"
        for name in consumed
        if name not in QUEUES
    ]
    if "payments" in consumed:
        problems.append(_payment_problem())
    if "emails" in consumed:
        problems.append(_email_problem())
    return [problem for problem in problems if problem]


@signals.worker_ready.connect
def warn_about_consumed_queues(sender: Any = None, **_: Any) -> None:
    """``worker_ready``: log each problem of the queues this worker consumes, once."""
    queues = sender.app.amqp.queues.consume_from
    for problem in endpoint_problems(queues):
        log.warning(problem)
