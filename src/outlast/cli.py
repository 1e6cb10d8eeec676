"""The ``outlast`` command. Sub-commands arrive with the parts they drive."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from outlast.config import (
    BulkheadConfig,
    CircuitBreakerConfig,
    RetryConfig,
    get_bulkhead_config,
    get_circuit_breaker_config,
    get_retry_config,
    get_timeout_config,
)

__all__ = ["main"]


def _version() -> str:
    from importlib.metadata import version

    return version("outlast")


def _show_profile(kind: str, name: str) -> dict[str, object]:
    if kind == "timeout":
        return {"name": name, "timeout": get_timeout_config(name)}
    config: CircuitBreakerConfig | BulkheadConfig | RetryConfig
    if kind == "breaker":
        config = get_circuit_breaker_config(name)
    elif kind == "bulkhead":
        config = get_bulkhead_config(name)
    else:
        config = get_retry_config(name)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return {"name": name, **{k: _plain(v) for k, v in values.items()}}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, type):
        return value.__qualname__
    return getattr(value, "value", value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outlast", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
    profile = commands.add_parser("profile", help="show the resolved profile for a service name")
    profile.add_argument("kind", choices=["breaker", "bulkhead", "retry", "timeout"])
    profile.add_argument("name")
    worker = commands.add_parser("worker", help="run a Celery worker of outlast.workers")
    worker.add_argument("-Q", "--queues", help="comma-separated queues (default: all)")
    worker.add_argument("-c", "--concurrency", type=int, help="pool processes or threads")
    worker.add_argument("--autoscale", help="MAX,MIN pool size (prefork pool)")
    worker.add_argument("-P", "--pool", default="prefork", help="prefork, threads or solo")
    worker.add_argument("-l", "--loglevel", default="INFO")
    worker.add_argument("-n", "--name", help="node name, e.g. payments@%%h")
    beat = commands.add_parser(
        "beat", help="run Celery beat for outlast.workers (only one beat sends at a time)"
    )
    beat.add_argument("-l", "--loglevel", default="INFO")
    return parser


def _worker_argv(args: argparse.Namespace) -> list[str]:
    from outlast.workers import QUEUES

    argv = ["worker", "-Q", args.queues or ",".join(QUEUES), "-P", args.pool]
    argv += ["-l", args.loglevel]
    if args.concurrency is not None:
        argv += ["-c", str(args.concurrency)]
    if args.autoscale:
        argv += ["--autoscale", args.autoscale]
    if args.name:
        argv += ["-n", args.name]
    return argv


def _run_worker(args: argparse.Namespace) -> int:
    from outlast.workers import app

    app.worker_main(argv=_worker_argv(args))
    return 0


def _run_beat(args: argparse.Namespace) -> int:
    from outlast.workers import app

    app.start(argv=["beat", "-l", args.loglevel])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``outlast`` console script."""
    args = _parser().parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if args.command == "profile":
        print(json.dumps(_show_profile(args.kind, args.name), indent=2))
        return 0
    if args.command == "worker":
        return _run_worker(args)
    if args.command == "beat":
        return _run_beat(args)
    _parser().print_help(sys.stderr)
    return 2
