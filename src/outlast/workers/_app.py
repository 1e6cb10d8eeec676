"""The Celery application: its configuration comes from ``Settings``, nothing else.

Reliability choices, each a setting Celery leaves off by default:
``task_acks_late`` with ``task_reject_on_worker_lost`` (a killed worker's task is
redelivered, not lost), prefetch 1 (a worker holds only the task it runs),
``worker_cancel_long_running_tasks_on_connection_loss`` (no second copy runs beside a
redelivered one), a soft shutdown window, JSON only, and a Redis visibility timeout of
``broker_visibility_timeout`` with an unacked-restore sweep every tenth of it, so work held
by a worker that died comes back within about that time instead of after an hour.
Every worker also runs the consumer watchdog (``_watchdog``) and a consumer that outlives
the loss of its Redis broker (``_broker_loss``) and, on Redis, a heartbeat with a record of
the messages it holds (``_orphan_guard``), so a dead worker's messages come back within
seconds; beat's ledger sweep sends again what the broker lost before it started
(``_ledger_sweep``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from outlast.config import Settings, get_settings
from outlast.workers import _metrics_hooks  # noqa: F401  (connects the metrics signals)
from outlast.workers._queues import QUEUES, route_task
from outlast.workers._registry_snapshot import RegistrySnapshotStep
from outlast.workers.beat._schedule import beat_schedule
from outlast.workers.consuming import _reconnect  # noqa: F401  (the outlast_reconnect command)
from outlast.workers.consuming._watchdog import ConsumerWatchdog
from outlast.workers.orphans._orphan_guard import OrphanGuard

__all__ = ["DEFAULT_REDIS_URL", "TASK_MODULES", "app", "celery_config", "create_app"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Imported by every worker so the built-in tasks are registered.
TASK_MODULES = (
    "outlast.tasks.maintenance",
    "outlast.tasks.payments",
    "outlast.tasks.emails",
    "outlast.tasks.recovery",
    "outlast.tasks.orphans",
    "outlast.tasks.monitoring",
    "outlast.tasks.notifications",
)


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for ``settings``."""
    broker = settings.broker_url or settings.redis_url or DEFAULT_REDIS_URL
    transport = _transport_options(settings, broker)
    return {
        "broker_url": broker,
        "result_backend": settings.result_backend or _result_url(broker, settings),
        "broker_transport_options": transport,
        "result_backend_transport_options": _result_options(settings, transport),
        "visibility_timeout": settings.broker_visibility_timeout,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Keeps the dead letter of a message no task can run before letting it go.
        "worker_consumer": "outlast.workers.consuming._broker_loss:BrokerLossConsumer",
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_timeout,
        "worker_enable_soft_shutdown_on_idle": True,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_queues": [_queue(name) for name in QUEUES],
        "task_default_queue": "operations",
        "task_routes": (route_task,),
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "result_expires": 86_400,
        "include": [*TASK_MODULES, *settings.task_modules],
        "beat_schedule": beat_schedule(settings),
        "beat_scheduler": "outlast.workers.beat._beat:LeaderScheduler",
        "outlast_beat_lease": {
            "redis_url": settings.redis_url or _result_url(broker, settings),
            "namespace": settings.namespace,
            "ttl": settings.beat_lease_ttl,
        },
    }


def _queue(name: str) -> Queue:
    """Queue ``name`` on a direct exchange of its own, routed by its name (a bare
    ``Queue(name)`` would bind every queue to the default queue's exchange and key)."""
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]


def _transport_options(settings: Settings, broker: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if broker.startswith(("redis://", "rediss://", "unix://")):
        timeout = settings.broker_visibility_timeout
        options.update(
            visibility_timeout=timeout,
            unacked_restore_interval=max(1, timeout // 10),
            unacked_restore_throttle=1,
            # A worker killed mid-sweep keeps the sweep's mutex until it expires (kombu's
            # default is 300 s): keep it short so redelivery is not stalled that long.
            unacked_mutex_expire=max(5, timeout // 10),
        )
        if settings.namespace != "default":
            options["global_keyprefix"] = f"outlast:{settings.namespace}:"
    elif broker.startswith(("amqp://", "pyamqp://")):
        options["confirm_publish"] = True
    return options


def _result_options(settings: Settings, transport: dict[str, Any]) -> dict[str, Any]:
    """The result backend's options: results are namespaced in Redis whatever the broker
    (with RabbitMQ as broker they still go to Redis, and two namespaces must not mix)."""
    options = {k: v for k, v in transport.items() if k == "visibility_timeout"}
    if settings.namespace != "default":
        options["global_keyprefix"] = f"outlast:{settings.namespace}:"
    return options


def _result_url(broker: str, settings: Settings) -> str:
    if broker.startswith(("redis://", "rediss://", "unix://")):
        return broker
    return settings.redis_url or DEFAULT_REDIS_URL


def create_app(settings: Settings | None = None, *, main: str = "outlast") -> Celery:
    """A Celery app configured from ``settings`` (the process settings by default)."""
    app = Celery(main)
    app.conf.update(celery_config(settings or get_settings()))
    app.steps["consumer"].add(ConsumerWatchdog)
    app.steps["consumer"].add(OrphanGuard)
    app.steps["worker"].add(RegistrySnapshotStep)
    return app


app = create_app()
"""The process's app, configured from the process settings at import."""
