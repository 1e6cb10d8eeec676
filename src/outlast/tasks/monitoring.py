"""Monitoring beat tasks on the ``monitoring`` queue: statistics, alerts, escalation, prune.

- ``outlast.monitoring.compute_stats``: the shared statistics stored as a snapshot.
- ``outlast.monitoring.evaluate_alerts``: the alert rules on the shared numbers.
- ``outlast.monitoring.escalate``: due groups flushed and alerts escalated; every planned
  notification not yet dispatched (those of acknowledgements too) goes out once as
  ``outlast.monitoring.notify`` with ``kwargs={"notification": PlannedNotification.as_dict()}``
  (the notifier delivers it) and is marked dispatched on its alert.
- ``outlast.monitoring.prune``: events, statistics snapshots and resolved alerts past the
  retentions of ``MonitoringSettings``.

Beat sends them at the intervals of ``MonitoringSettings`` (``_schedule_monitoring``). Each
runs on the worker process's loop and returns a small JSON summary.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from outlast.config import get_monitoring_settings
from outlast.monitoring import PlannedNotification
from outlast.monitoring import escalate as plan_escalations
from outlast.monitoring import evaluate_alerts as evaluate
from outlast.monitoring._jobs import compute_stats as take_snapshot
from outlast.monitoring._jobs import prune as prune_old
from outlast.monitoring._outbox import confirm_dispatched, outbox
from outlast.workers import app, run_on_process_loop

__all__ = ["NOTIFY_TASK", "compute_stats", "escalate", "evaluate_alerts", "prune"]

log = logging.getLogger("outlast.monitoring")

NOTIFY_TASK: Final = "outlast.monitoring.notify"
"""The task that delivers one planned notification."""


@app.task(name="outlast.monitoring.compute_stats")
def compute_stats() -> dict[str, Any]:
    """Store the statistics snapshot of now (nothing while Redis does not answer)."""
    snapshot = run_on_process_loop(take_snapshot())
    if snapshot is None:
        return {"stored": False}
    return {"stored": True, "snapshot_id": snapshot.id, "taken_at": snapshot.taken_at}


@app.task(name="outlast.monitoring.evaluate_alerts")
def evaluate_alerts() -> dict[str, Any]:
    """Raise the alerts that fire and resolve those that stopped."""
    raised = run_on_process_loop(evaluate())
    if raised is None:
        return {"evaluated": False}
    return {"evaluated": True, "firing": sorted(alert.id for alert in raised)}


@app.task(name="outlast.monitoring.escalate")
def escalate() -> dict[str, int]:
    """Flush due groups, escalate, and send every planned notification not yet sent to the
    notifier (acknowledgements and resolutions planned elsewhere too), each once: a sent
    one is marked dispatched on its alert; one that could not be sent stays planned (and
    logged) for the next run. ``planned``: planned by this run; ``sent``: sent by it."""
    planned = run_on_process_loop(plan_escalations())
    pending = run_on_process_loop(outbox())
    sent = [notification for notification in pending if _sent(notification)]
    if sent:
        run_on_process_loop(confirm_dispatched(sent))
    return {"planned": len(planned), "sent": len(sent)}


def _sent(notification: PlannedNotification) -> bool:
    """Send ``notification`` to the notifier; False (logged) if the broker refused it."""
    try:
        app.send_task(NOTIFY_TASK, kwargs={"notification": notification.as_dict()})
    except Exception as error:
        log.error(
            "could not send notification of alert %s (level %d, %s): %s",
            notification.alert_id, notification.level, notification.channel.value,
            type(error).__name__,
        )  # fmt: skip
        return False
    return True


@app.task(name="outlast.monitoring.prune")
def prune() -> dict[str, int | None]:
    """Delete what is past the monitoring retentions; how many of each."""
    settings = get_monitoring_settings()
    return run_on_process_loop(
        prune_old(
            event_retention=settings.monitoring_event_retention,
            snapshot_retention=settings.monitoring_snapshot_retention,
        )
    )
