"""The Celery app: real worker processes, the route table, the settings.

The real-worker tests run once per broker: ``[redis]`` (the test Redis), and
``[rabbitmq]`` when a RabbitMQ answers an AMQP handshake on 127.0.0.1:5672 (or
``$OUTLAST_TEST_AMQP_URL``) at collection; without one those ids are not generated
(nothing is skipped). See ``tests/_brokers.py`` for how RabbitMQ tests are isolated."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery

from _workers import celery_worker_command, start_worker
from outlast.config import Settings
from outlast.errors import ConfigurationError
from outlast.workers import QUEUES, add_route, app, create_app, queue_for


@pytest.fixture
def worker_env(redis_url: str, broker_url: str, namespace: str) -> dict[str, str]:
    """A worker's environment: results in the test Redis whatever the broker."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
    }


@pytest.fixture
def client_app(redis_url: str, broker_url: str, namespace: str) -> Iterator[Celery]:
    """An app configured like the worker's, for sending tasks and reading results."""
    settings = Settings(broker_url=broker_url, redis_url=redis_url, namespace=namespace)
    celery = create_app(settings)
    yield celery
    celery.close()


def test_every_outlast_task_is_routed_to_a_declared_queue() -> None:
    """Each registered outlast task has a route, and the route names a declared queue."""
    app.loader.import_default_modules()
    names = [name for name in app.tasks if name.startswith("outlast.")]
    assert "outlast.maintenance.ping" in names
    assert all(queue_for(name) in QUEUES for name in names)


def test_each_queue_is_bound_by_its_own_name() -> None:
    """Every declared queue has a direct exchange and a routing key of its own name, so a
    message routed to one queue can never be bound to reach another."""
    bindings = {
        name: (queue.exchange.name, queue.exchange.type, queue.routing_key)
        for name, queue in app.amqp.queues.items()
    }
    assert bindings == {name: (name, "direct", name) for name in QUEUES}


def test_an_unrouted_task_is_a_configuration_error() -> None:
    """A task name the table does not know fails loudly instead of landing anywhere."""
    with pytest.raises(ConfigurationError, match="no route"):
        queue_for("somebody.else.task")


def test_routes_added_for_operations_are_checked() -> None:
    """add_route accepts a declared queue only, and refuses to move an existing route."""
    add_route("billing.refund.test-only", "payments")
    assert queue_for("billing.refund.test-only") == "payments"
    with pytest.raises(ConfigurationError, match="not one of"):
        add_route("billing.other", "nowhere")
    with pytest.raises(ConfigurationError, match="already routed"):
        add_route("billing.refund.test-only", "emails")


def test_visibility_timeout_and_restore_sweep_follow_the_setting() -> None:
    """OUTLAST_BROKER_VISIBILITY_TIMEOUT sets the timeout, and the sweep runs at a tenth of it."""
    celery = create_app(Settings(broker_visibility_timeout=120))
    options = celery.conf.broker_transport_options
    assert (options["visibility_timeout"], options["unacked_restore_interval"]) == (120, 12)
    assert celery.conf.task_acks_late is True
    assert celery.conf.task_reject_on_worker_lost is True
    assert celery.conf.worker_prefetch_multiplier == 1


def test_with_rabbitmq_publishes_are_confirmed_and_results_namespaced_in_redis() -> None:
    """An AMQP broker gets confirm_publish; results go to Redis under the namespace prefix."""
    settings = Settings(
        broker_url="amqp://guest:guest@127.0.0.1:5672//",
        redis_url="redis://127.0.0.1:6379/3",
        namespace="shop",
    )
    celery = create_app(settings)
    assert celery.conf.broker_transport_options == {"confirm_publish": True}
    assert celery.conf.result_backend == "redis://127.0.0.1:6379/3"
    assert celery.conf.result_backend_transport_options == {"global_keyprefix": "outlast:shop:"}


def test_a_real_worker_answers_ping(worker_env: dict[str, str], client_app: Celery) -> None:
    """`celery -A outlast.workers worker` consumes the monitoring queue and answers a ping."""
    with start_worker(worker_env, celery_worker_command(["monitoring"])) as worker:
        result = client_app.send_task("outlast.maintenance.ping")
        answer = result.get(timeout=30)
    assert answer["pong"] is True
    assert answer["pid"] != worker.pid  # ran in a prefork pool child, not the main process


def test_outlast_worker_command_starts_a_worker(
    worker_env: dict[str, str], client_app: Celery
) -> None:
    """`outlast worker -Q monitoring -c 1` is a working Celery worker too."""
    command = [
        sys.executable, "-c", "import sys; from outlast.cli import main; sys.exit(main())",
        "worker", "-Q", "monitoring", "-c", "1", "--name", f"cli-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    with start_worker(worker_env, command):
        answer = client_app.send_task("outlast.maintenance.ping").get(timeout=30)
    assert answer["pong"] is True


def test_the_app_module_imports_without_a_broker() -> None:
    """Importing outlast.workers connects to nothing (a web process may import it freely)."""
    code = "import outlast.workers, outlast.tasks.maintenance; print('ok')"
    env = {"OUTLAST_BROKER_URL": "redis://127.0.0.1:1/0", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr
