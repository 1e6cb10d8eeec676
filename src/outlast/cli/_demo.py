"""``outlast dev --demo``: the worker system doing its job for about a minute, then a summary.

It starts a flaky payment gateway and a mail sink on loopback (in this process), Redis as
``outlast dev`` does (the configured one if it answers, else an embedded one), a payments
worker, an emails worker and beat as child processes, all on a namespace of its own
(``demo-...``) so nothing of an application's data on that Redis is read or touched (the
namespace's keys are deleted at the end). Then it
plays the story of :mod:`._demo_story`, shows it live, prints the summary, and stops every
process and server it started, whatever happened. Its exit status is 0 only when every
payment was charged exactly once and the dead letter was replayed and delivered.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from outlast.cli._children import Child, start_child, stop_children
from outlast.cli._demo_gateway import DemoGateway
from outlast.cli._demo_smtp import DemoSmtp
from outlast.cli._demo_story import CLOSED_MAILBOX, DemoFailedError, Pace, play, story
from outlast.cli._demo_view import open_view, summary_lines
from outlast.cli._demo_watch import Snapshot, Watch
from outlast.cli._dev import _command, _died, _logged, _redis, _say, _stop_on_signals, _wait_ready
from outlast.cli._redis_server import EmbeddedRedis
from outlast.config import reload_settings

__all__ = ["DemoOptions", "run_demo"]

_QUEUES = ("payments", "emails")
# The mail sink takes no login, and the demo keeps its work and records on its own Redis:
# an application's SMTP login, broker, result backend or MongoDB must not be used.
_UNSET = (
    "OUTLAST_SMTP_USERNAME",
    "OUTLAST_SMTP_PASSWORD",
    "OUTLAST_BROKER_URL",
    "OUTLAST_RESULT_BACKEND",
    "OUTLAST_MONGODB_URL",
)
_PASSED, _FAILED = 0, 1


@dataclass(frozen=True)
class DemoOptions:
    """Where the demo's Redis is looked for, its pace, and where the logs go."""

    redis_url: str
    pace: Pace
    log_dir: Path | None = None
    ready_timeout: float = 90.0
    stop_grace: float = 20.0


@dataclass(frozen=True)
class _Stage:
    gateway: DemoGateway
    smtp: DemoSmtp
    namespace: str


def _environment(stage: _Stage, redis_url: str, pace: Pace) -> dict[str, str]:
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": stage.namespace,
        "OUTLAST_PAYMENT_GATEWAY_URL": stage.gateway.url,
        "OUTLAST_SMTP_HOST": stage.smtp.host,
        "OUTLAST_SMTP_PORT": str(stage.smtp.port),
        "OUTLAST_SMTP_STARTTLS": "false",
        "OUTLAST_SMTP_TLS": "false",
        "PYTHONUNBUFFERED": "1",
        **pace.settings(),
    }


def _start_children(env: dict[str, str], log_dir: Path, children: list[Child]) -> None:
    plan = [
        *[(f"worker {q}", _command("worker", "-Q", q, "-c", "1", "-n", f"demo-{q}@%h"),
           f"worker-{q}.log", _logged(" ready.")) for q in _QUEUES],
        ("beat", _command("beat"), "beat.log", _logged("beat: Starting")),
    ]  # fmt: skip
    for name, argv, log_name, ready in plan:
        child = start_child(name, argv, env=env, log_path=log_dir / log_name, ready=ready)
        children.append(child)
        _say(f"{name:<18} pid {child.pid}  log {child.log_path}")


def _verdict(snapshot: Snapshot) -> str | None:
    """What the summary shows went wrong, if anything."""
    if snapshot.charged != snapshot.payments_queued or snapshot.repeats:
        return "not every payment was charged exactly once"
    if snapshot.replayed != 1 or snapshot.delivered != snapshot.emails_queued:
        return "the dead letter was not replayed and delivered"
    return None


def _tell(stage: _Stage, env: dict[str, str], options: DemoOptions, children: list[Child],
          server: EmbeddedRedis | None, stop: threading.Event) -> int:  # fmt: skip
    def trouble() -> str | None:
        return "stopped before the end" if stop.is_set() else _died(children, server)

    problem = _wait_ready(children, server, stop, options.ready_timeout)
    if problem is not None or stop.is_set():
        raise DemoFailedError(problem or "stopped before the end")
    watch = Watch(gateway=stage.gateway, smtp=stage.smtp, redis_url=env["OUTLAST_REDIS_URL"],
                  key_prefix=f"outlast:{stage.namespace}:", queues=_QUEUES)  # fmt: skip
    view = open_view()
    try:
        snapshot = play(story(stage.gateway, stage.smtp, watch, view, options.pace), watch,
                        view, options.pace, trouble)  # fmt: skip
    finally:
        view.close()
        watch.close()
    print("\n".join(summary_lines(snapshot)), flush=True)
    verdict = _verdict(snapshot)
    if verdict is not None:
        raise DemoFailedError(verdict)
    return _PASSED


def _run_on(stage: _Stage, options: DemoOptions, stop: threading.Event) -> int:
    url, server = _redis(options.redis_url)
    for name in _UNSET:
        os.environ.pop(name, None)
    env = {**os.environ, **_environment(stage, url, options.pace)}
    os.environ.update(env)  # this process enqueues, watches and replays on the same system
    reload_settings()
    log_dir = options.log_dir or Path(tempfile.mkdtemp(prefix="outlast-demo-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    try:
        _start_children(env, log_dir, children)
        return _tell(stage, env, options, children, server, stop)
    finally:
        _say(f"stopping {len(children)} processes")
        stop_children(children, grace=options.stop_grace)
        if server is not None:
            server.stop()
            _say(f"stopped the embedded redis-server (pid {server.pid})")
        else:
            _say(f"removed the demo's {_forget(url, stage.namespace)} keys from {url}")
        _say(f"stopped; logs kept in {log_dir}")


def _forget(url: str, namespace: str) -> int:
    """Delete the keys of the demo's own namespace (never any other) from ``url``."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"outlast:{namespace}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def run_demo(options: DemoOptions) -> int:
    """Play the demo to its summary (0), or say why it could not (1)."""
    stop = _stop_on_signals()
    gateway, smtp = DemoGateway().start(), DemoSmtp(closed=[CLOSED_MAILBOX]).start()
    stage = _Stage(gateway=gateway, smtp=smtp, namespace=f"demo-{uuid.uuid4().hex[:8]}")
    _say(f"{'payment gateway':<18} {gateway.url}  (flaky on purpose; in this process)")
    _say(f"{'mail sink':<18} smtp://{smtp.host}:{smtp.port}  (in this process)")
    _say(f"{'namespace':<18} {stage.namespace}")
    try:
        return _run_on(stage, options, stop)
    except DemoFailedError as failure:
        print(f"outlast dev --demo: {failure}", file=sys.stderr, flush=True)
        return _FAILED
    finally:
        gateway.stop()
        smtp.stop()
