"""``outlast breaker trip|reset NAME``: open or close a cluster breaker in every process.

A cluster-scope breaker keeps its state in Redis, so moving it here (through the breaker's
own control script) moves it for every process that uses it. A breaker its processes
report only as local lives inside each of them and cannot be reached from here; a name no
process reports and Redis does not hold is unknown. Each refusal is one line and status 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from outlast.cli._console import NOT_FOUND, CommandError, checked_link, emit_json, redis_url
from outlast.config import get_circuit_breaker_config, get_settings
from outlast.resilience import CircuitBreaker, RedisBreakerState
from outlast.resilience.shared._redis_link import RedisLink, link_for
from outlast.resilience.shared._registry_merge import breaker_processes, merge_breakers
from outlast.resilience.shared._registry_snapshot import read_snapshots

__all__ = ["add_breaker_parser", "run_breaker"]


def add_breaker_parser(commands: Any) -> None:
    """Register ``outlast breaker trip|reset NAME``."""
    breaker = commands.add_parser(
        "breaker", help="trip (open) or reset (close) a cluster circuit breaker by name"
    )
    verbs = breaker.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, text in (("trip", "open it now, for its full recovery timeout"),
                       ("reset", "close it and clear its counts")):  # fmt: skip
        parser = verbs.add_parser(verb, help=text)
        parser.add_argument("name", help="the breaker's name, as outlast status shows it")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run_breaker(args: argparse.Namespace) -> int:
    """Move the breaker and show the state it is in now."""
    link = checked_link()
    try:
        _check_reachable(link, args.name)
    finally:
        link.close()
    breaker = _cluster_breaker(args.name)
    if args.verb == "trip":
        breaker.force_open()
    else:
        breaker.reset()
    result = {"name": args.name, "state": breaker.state.value}
    if args.json:
        emit_json(result)
    else:
        print(f"breaker {args.name}: {result['state']}")
    return 0


def _check_reachable(link: RedisLink, name: str) -> None:
    """CommandError unless ``name`` is a cluster breaker some process or Redis knows."""
    snapshots = read_snapshots(link) or []
    reports = breaker_processes(snapshots, name)
    if reports and all(report.get("scope", "local") != "cluster" for report in reports):
        raise CommandError(
            f"breaker {name!r} is local to each process that uses it; only cluster-scope "
            "breakers can be tripped or reset from here"
        )
    if not reports and not link.call(lambda client: client.exists(link.key("cb", name))):
        known = ", ".join(merge_breakers(snapshots)) or "none reported"
        raise CommandError(f"no breaker {name!r} (known: {known})", NOT_FOUND)


def _cluster_breaker(name: str) -> CircuitBreaker:
    """Breaker ``name`` on the shared Redis, configured as its processes configure it."""
    settings = get_settings()
    config = get_circuit_breaker_config(name)
    link = link_for(redis_url(), settings.namespace)
    backend = RedisBreakerState(
        name, config=config, link=link, down_policy=settings.redis_down_policy
    )
    return CircuitBreaker(name, config=config, backend=backend)
