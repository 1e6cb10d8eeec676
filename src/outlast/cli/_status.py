"""``outlast status``: the cluster at a glance, as tables or as JSON (``--json``).

Breakers and bulkheads are every process's published snapshots merged the way the health
API merges them (``_registry_merge``); queue depths, consumers and workers come from the
broker (``_status_broker``); active alerts, and the work held for later (retries parked in
the store, dead letters), from the store. Redis that does not answer ends
the command with one line and status 1. This command reads; it never changes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from outlast.cli._console import checked_link, emit_json, store, table
from outlast.resilience.shared._registry_merge import merge_breakers, merge_bulkheads
from outlast.resilience.shared._registry_snapshot import read_snapshots
from outlast.store import Alert

__all__ = ["add_status_parser", "run_status"]

ALERT_LIMIT = 50
MAX_TIMEOUT = 60.0


def add_status_parser(commands: Any) -> None:
    """Register ``outlast status [--json] [--timeout S]``."""
    status = commands.add_parser(
        "status",
        help="breakers, bulkheads, queues, workers, parked retries, dead letters and alerts",
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.add_argument(
        "--timeout", type=seconds, default=1.0, help="how long to wait for workers' answers (1 s)"
    )


def seconds(text: str) -> float:
    """``--timeout``: a number of seconds above 0, at most 60."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds above 0 and at most 60"
        )
    return value


def run_status(args: argparse.Namespace) -> int:
    """Read everything, then print it."""
    report = collect(timeout=args.timeout)
    if args.json:
        emit_json(report)
    else:
        print(render(report))
    return 0


def collect(*, timeout: float) -> dict[str, Any]:
    """The report: breakers, bulkheads, queues, workers, alerts."""
    link = checked_link()
    try:
        snapshots = read_snapshots(link) or []
    finally:
        link.close()
    from outlast.cli._status_broker import broker_view
    from outlast.workers import app

    broker = broker_view(app, timeout=timeout)
    alerts, held = asyncio.run(_from_store())
    return {
        "breakers": merge_breakers(snapshots),
        "bulkheads": merge_bulkheads(snapshots),
        "queues": broker["queues"],
        "workers": broker["workers"],
        "held": held,
        "alerts": [alert.to_document() for alert in alerts],
    }


async def _from_store() -> tuple[list[Alert], dict[str, int]]:
    """The active alerts, and how much work waits in the store."""
    client = store()
    try:
        alerts = await client.list_alerts(limit=ALERT_LIMIT)
        held = {
            "parked_retries": await client.count_scheduled_retries(),
            "parked_due": await client.count_scheduled_retries(due_before=time.time()),
            "dead_letters": await client.count_dead_letters(),
        }
        return alerts, held
    finally:
        await client.close()


def render(report: dict[str, Any]) -> str:
    """The report as titled tables."""
    breakers = [(n, b["state"], b["failure_count"], b["success_count"])
                for n, b in report["breakers"].items()]  # fmt: skip
    bulkheads = [(n, b["active_count"], b["capacity"], f"{b['rejection_rate']:.1%}")
                 for n, b in report["bulkheads"].items()]  # fmt: skip
    queues = [(n, q["depth"], len(q["consumers"]), ", ".join(q["consumers"]) or "-")
              for n, q in report["queues"].items()]  # fmt: skip
    held = report["held"]
    waiting = [("parked_retries", held["parked_retries"], held["parked_due"]),
               ("dead_letters", held["dead_letters"], "-")]  # fmt: skip
    alerts = [(a["id"], a["severity"], a["alert_type"], a["title"], a["occurrences"],
               a["acknowledged_by"] or "-") for a in report["alerts"]]  # fmt: skip
    parts = [
        ("Circuit breakers", table(("NAME", "STATE", "FAILURES", "SUCCESSES"), breakers)),
        ("Bulkheads", table(("NAME", "ACTIVE", "CAPACITY", "REJECTED"), bulkheads)),
        ("Queues", table(("QUEUE", "DEPTH", "CONSUMERS", "WORKERS"), queues)),
        ("Workers", table(("WORKER",), [(w,) for w in report["workers"]])),
        ("Held for later", table(("KIND", "COUNT", "DUE NOW"), waiting)),
        ("Active alerts", table(("ID", "SEVERITY", "TYPE", "TITLE", "SEEN", "ACKED BY"), alerts)),
    ]
    return "\n\n".join(f"{title}\n{body}" for title, body in parts)
