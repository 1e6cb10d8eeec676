"""``outlast breaker trip|reset NAME``: open or close a circuit breaker in every process.

A cluster-scope breaker keeps its state in Redis, so moving it here (through the breaker's
own control script) moves it for every process that uses it, at once. A breaker its
processes report only as local lives inside each of them: the command is left in Redis
for every process to apply within its next publication (``_registry_commands``), and this
waits until each reports the breaker moved (status 1 if some did not within two rounds).
A name no process reports and Redis does not hold is unknown: one line, status 1.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from outlast.cli._console import NOT_FOUND, CommandError, checked_link, emit_json, redis_url
from outlast.config import get_circuit_breaker_config, get_settings
from outlast.resilience import CircuitBreaker, RedisBreakerState
from outlast.resilience.shared._redis_link import RedisLink, Unavailable, link_for
from outlast.resilience.shared._registry_commands import Action, issue_command
from outlast.resilience.shared._registry_merge import breaker_processes, merge_breakers
from outlast.resilience.shared._registry_snapshot import DEFAULT_INTERVAL, read_snapshots

__all__ = ["add_breaker_parser", "run_breaker"]


def add_breaker_parser(commands: Any) -> None:
    """Register ``outlast breaker trip|reset NAME``."""
    breaker = commands.add_parser(
        "breaker", help="trip (open) or reset (close) a circuit breaker by name, everywhere"
    )
    verbs = breaker.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, text in (("trip", "open it now, for its full recovery timeout"),
                       ("reset", "close it and clear its counts")):  # fmt: skip
        parser = verbs.add_parser(verb, help=text)
        parser.add_argument("name", help="the breaker's name, as outlast status shows it")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run_breaker(args: argparse.Namespace) -> int:
    """Move the breaker and show the state it is in now."""
    action: Action = "open" if args.verb == "trip" else "reset"
    link = checked_link()
    try:
        if _is_local(link, args.name):
            return _report_local(_move_local(link, args.name, action), as_json=args.json)
    finally:
        link.close()
    breaker = _cluster_breaker(args.name)
    if action == "open":
        breaker.force_open()
    else:
        breaker.reset()
    result = {"name": args.name, "state": breaker.state.value}
    if args.json:
        emit_json(result)
    else:
        print(f"breaker {args.name}: {result['state']}")
    return 0


def _report_local(result: dict[str, Any], *, as_json: bool) -> int:
    """Print how many processes moved their local breaker; 1 unless all of them did."""
    if as_json:
        emit_json(result)
    else:
        print(f"breaker {result['name']}: {result['state']} in {result['moved']} of "
              f"{result['processes']} processes (local to each)")  # fmt: skip
    return 0 if result["moved"] == result["processes"] else 1


def _is_local(link: RedisLink, name: str) -> bool:
    """Whether ``name`` is local to its processes (else a cluster breaker); CommandError
    when no process reports it and Redis does not hold it."""
    snapshots = read_snapshots(link) or []
    reports = breaker_processes(snapshots, name)
    if reports and all(report.get("scope", "local") != "cluster" for report in reports):
        return True
    if not reports and not link.call(lambda client: client.exists(link.key("cb", name))):
        known = ", ".join(merge_breakers(snapshots)) or "none reported"
        raise CommandError(f"no breaker {name!r} (known: {known})", NOT_FOUND)
    return False


def _move_local(link: RedisLink, name: str, action: Action) -> dict[str, Any]:
    """Leave the command for every process and wait (two publication rounds at most) until
    each process that reports ``name`` shows it moved."""
    if isinstance(issue_command(link, name, action), Unavailable):
        raise CommandError("Redis stopped answering before the command was left")
    wanted = "open" if action == "open" else "closed"
    deadline = time.monotonic() + 2 * DEFAULT_INTERVAL + 1.0
    while True:
        reports = breaker_processes(read_snapshots(link) or [], name)
        moved = sum(1 for report in reports if report.get("state") == wanted)
        if moved == len(reports) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {"name": name, "scope": "local", "state": wanted, "moved": moved,
            "processes": len(reports)}  # fmt: skip


def _cluster_breaker(name: str) -> CircuitBreaker:
    """Breaker ``name`` on the shared Redis, configured as its processes configure it."""
    settings = get_settings()
    config = get_circuit_breaker_config(name)
    link = link_for(redis_url(), settings.namespace)
    backend = RedisBreakerState(
        name, config=config, link=link, down_policy=settings.redis_down_policy
    )
    return CircuitBreaker(name, config=config, backend=backend)
