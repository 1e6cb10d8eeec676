"""The ``outlast`` command: show profiles, run a worker, beat, Flower, or all of it (``dev``).

Arguments and settings are checked before anything starts: an unknown queue or pool, or a
bad ``OUTLAST_`` setting, ends the command with one line on stderr and status 2, never a
traceback and never a worker that starts on a queue nobody routes to.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from outlast.cli._api import add_api_parser, run_api
from outlast.cli._dead_letters import add_dead_letters_parser, run_dead_letters
from outlast.cli._metrics_server import add_metrics_server_parser, run_metrics_server
from outlast.cli._operator import OPERATOR_COMMANDS, add_operator_parsers, run_operator
from outlast.config import (
    BulkheadConfig,
    CircuitBreakerConfig,
    RetryConfig,
    check_settings,
    get_bulkhead_config,
    get_circuit_breaker_config,
    get_flower_settings,
    get_retry_config,
    get_settings,
    get_timeout_config,
)
from outlast.errors import ConfigurationError

__all__ = ["main"]

DESCRIPTION = (
    "Outlast keeps an application's work alive through failures. "
    "Settings come from OUTLAST_* environment variables and the TOML file OUTLAST_CONFIG_FILE."
)
POOLS = ("prefork", "threads", "solo")
GREEN_POOLS = ("eventlet", "gevent")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
USAGE_ERROR = 2
MIN_SPEED, MAX_SPEED = 0.25, 10.0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


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


def _declared_queues() -> tuple[str, ...]:
    # Imported here: the worker package builds its Celery app, which `profile` never needs.
    from outlast.workers import QUEUES

    return tuple(QUEUES)


def _queue_names(text: str | None) -> list[str]:
    """``-Q``: the comma-separated names given, in order, once each (empty when none)."""
    return list(dict.fromkeys(name.strip() for name in (text or "").split(",") if name.strip()))


def _checked_queues(names: list[str]) -> list[str]:
    """``names`` if each is a declared queue (all of them when none was given)."""
    declared = _declared_queues()
    for name in names:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"unknown queue {name!r} in -Q; the declared queues are {', '.join(declared)}{hint}"
            )
    return names or list(declared)


def _pool(name: str) -> str:
    """``-P``: a pool Celery can run here (a green pool only when its package is installed)."""
    if name in GREEN_POOLS and importlib.util.find_spec(name) is None:
        raise argparse.ArgumentTypeError(
            f"pool {name!r} needs the {name} package, which is not installed; "
            f"use one of {', '.join(POOLS)}"
        )
    if name not in (*POOLS, *GREEN_POOLS):
        raise argparse.ArgumentTypeError(
            f"unknown pool {name!r}; use one of {', '.join(POOLS)} (or {' or '.join(GREEN_POOLS)} "
            "when installed)"
        )
    return name


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _autoscale(text: str) -> str:
    most, _, least = text.partition(",")
    if not (most.isdigit() and least.isdigit() and int(most) >= int(least) >= 0 < int(most)):
        raise argparse.ArgumentTypeError(f"{text!r} is not MAX,MIN with MAX >= MIN >= 0")
    return text


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number from {MIN_SPEED} to {MAX_SPEED}"
        )
    return value


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _add_profile(commands: argparse._SubParsersAction[_Parser]) -> None:
    profile = commands.add_parser(
        "profile", help="show the resolved profile for a service name, as JSON"
    )
    profile.add_argument(
        "kind", choices=["breaker", "bulkhead", "retry", "timeout"], help="which kind of profile"
    )
    profile.add_argument("name", help='the service name, e.g. "database" or "email_sending"')


def _add_worker(commands: argparse._SubParsersAction[_Parser]) -> None:
    worker = commands.add_parser(
        "worker", help="run a Celery worker of outlast.workers (checks settings first)"
    )
    worker.add_argument("-Q", "--queues", help="comma-separated declared queues (default: all)")
    worker.add_argument(
        "-c", "--concurrency", type=_positive, help="pool processes or threads (default: CPUs)"
    )
    worker.add_argument(
        "--autoscale", type=_autoscale, help="MAX,MIN pool size, grown and shrunk with load"
    )
    worker.add_argument(
        "-P",
        "--pool",
        type=_pool,
        default="prefork",
        help="prefork (default), threads or solo; eventlet or gevent when installed",
    )
    worker.add_argument(
        "-l", "--loglevel", type=_log_level, default="INFO", help="log level (default: INFO)"
    )
    worker.add_argument("-n", "--name", help="node name, e.g. payments@%%h (default: celery@host)")


def _add_beat(commands: argparse._SubParsersAction[_Parser]) -> None:
    beat = commands.add_parser(
        "beat", help="run Celery beat for outlast.workers (only one beat sends at a time)"
    )
    beat.add_argument(
        "-l", "--loglevel", type=_log_level, default="INFO", help="log level (default: INFO)"
    )


def _add_flower(commands: argparse._SubParsersAction[_Parser]) -> None:
    commands.add_parser(
        "flower",
        help="serve Flower for outlast.workers at OUTLAST_FLOWER_ADDRESS:OUTLAST_FLOWER_PORT, "
        "with the login OUTLAST_FLOWER_USER / OUTLAST_FLOWER_PASSWORD (required off loopback)",
    )


def _add_dev(commands: argparse._SubParsersAction[_Parser]) -> None:
    dev = commands.add_parser(
        "dev",
        help="run a worker per queue, beat, Flower and the health API (loopback, a token for "
        "the session) on this machine, on the Redis at OUTLAST_REDIS_URL or an embedded one; "
        "Ctrl-C stops it all; exits 1 if a child dies",
    )
    dev.add_argument(
        "-c", "--concurrency", type=_positive, default=1, help="pool size of each worker (1)"
    )
    dev.add_argument("--log-dir", type=Path, help="where the logs go (default: a new temp dir)")
    dev.add_argument(
        "--demo",
        action="store_true",
        help="play the demo instead: a flaky payment gateway and a mail sink on loopback, "
        "retries, the breaker, a dead letter and its replay, then a summary (about a minute)",
    )
    dev.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="with --demo: how much faster than its one-minute pace to play it (default 1)",
    )


def _parser() -> _Parser:
    parser = _Parser(prog="outlast", description=DESCRIPTION)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    _add_profile(commands)
    _add_worker(commands)
    _add_beat(commands)
    _add_flower(commands)
    _add_dev(commands)
    add_api_parser(commands)
    add_dead_letters_parser(commands)
    add_metrics_server_parser(commands)
    add_operator_parsers(commands)
    return parser


def _check_task_modules() -> None:
    """Every module of OUTLAST_TASK_MODULES can be found (a worker imports them all)."""
    for name in get_settings().task_modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            raise ConfigurationError(
                f"OUTLAST_TASK_MODULES names {name!r}, which cannot be imported; "
                "expected modules on the worker's Python path"
            )


def _worker_argv(args: argparse.Namespace, queues: list[str]) -> list[str]:
    argv = ["worker", "-Q", ",".join(queues), "-P", args.pool, "-l", args.loglevel]
    if args.concurrency is not None:
        argv += ["-c", str(args.concurrency)]
    if args.autoscale:
        argv += ["--autoscale", args.autoscale]
    if args.name:
        argv += ["-n", args.name]
    return argv


def _run_worker(args: argparse.Namespace) -> int:
    names = _queue_names(args.queues)
    everything = not names
    email, payments = everything or "emails" in names, everything or "payments" in names
    check_settings(email=email, payments=payments, broker=True)
    _check_task_modules()
    queues = _checked_queues(names)
    from outlast.workers import app

    app.worker_main(argv=_worker_argv(args, queues))
    return 0


def _run_beat(args: argparse.Namespace) -> int:
    check_settings(broker=True)
    from outlast.workers import app

    app.start(argv=["beat", "-l", args.loglevel])
    return 0


def _run_flower() -> int:
    check_settings(broker=True, flower=True)
    from outlast.cli._flower import run_flower

    run_flower(get_flower_settings())
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    check_settings(broker=True)
    # Before outlast.workers is imported: its app is configured from the settings the demo sets.
    from outlast.cli._demo import DemoOptions, run_demo
    from outlast.cli._demo_story import Pace
    from outlast.store import DEFAULT_REDIS_URL

    url = get_settings().redis_url or DEFAULT_REDIS_URL
    return run_demo(DemoOptions(redis_url=url, pace=Pace(speed=args.speed), log_dir=args.log_dir))


def _run_dev(args: argparse.Namespace) -> int:
    if args.demo:
        return _run_demo(args)
    check_settings(email=True, payments=True, broker=True, flower=True)
    _check_task_modules()
    from outlast.cli._dev import DevOptions, run_dev
    from outlast.cli._flower import require_flower
    from outlast.workers import DEFAULT_REDIS_URL

    require_flower()
    options = DevOptions(
        redis_url=get_settings().redis_url or DEFAULT_REDIS_URL,
        queues=_declared_queues(),
        flower=get_flower_settings(),
        concurrency=args.concurrency,
        log_dir=args.log_dir,
    )
    return run_dev(options)


def _run(args: argparse.Namespace) -> int:
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
    if args.command == "flower":
        return _run_flower()
    if args.command == "dev":
        return _run_dev(args)
    if args.command == "api":
        return run_api(args)
    if args.command == "dead-letters":
        return run_dead_letters(args)
    if args.command == "metrics-server":
        return run_metrics_server(args)
    if args.command in OPERATOR_COMMANDS:
        return run_operator(args)
    _parser().print_help(sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``outlast`` console script."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ConfigurationError as exc:
        prog = f"outlast {args.command}" if args.command else "outlast"
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE_ERROR
