"""``outlast recover``: run the health sweep now, in this process, and show what it did.

It is the sweep beat runs (``outlast.recovery.health_sweep``), called directly: every
configured service probed, healed or restarted within its limits, then every worker's
consumers checked and repaired, sharing the sweep memory with the workers' sweeps. What it
could not heal is handed to the workers to heal again, as the scheduled sweep does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from outlast.cli._console import checked_link, emit_json, table

__all__ = ["add_recover_parser", "run_recover"]

BROKER_TIMEOUT = 2.0
BUSY_WAIT = 10.0
"""Seconds ``recover`` waits for a sweep already running elsewhere (one runs at a time)."""


def add_recover_parser(commands: Any) -> None:
    """Register ``outlast recover [--json]``."""
    recover = commands.add_parser(
        "recover", help="run the health sweep now (probe, heal, restart, repair consumers)"
    )
    recover.add_argument("--json", action="store_true", help="print JSON for scripts")


def run_recover(args: argparse.Namespace) -> int:
    """Sweep once and print the report."""
    checked_link().close()
    from outlast.cli._status_broker import check_broker
    from outlast.tasks.recovery import health_sweep
    from outlast.workers import app

    check_broker(app, BROKER_TIMEOUT)  # the sweep hands what it could not heal to workers

    report = sweep_when_free(health_sweep)
    if report is None:
        print(
            f"outlast recover: another health sweep is still running after {BUSY_WAIT:.0f} s "
            "(one runs at a time); try again when it ends",
            file=sys.stderr,
        )
        return 1
    if args.json:
        emit_json(report)
    else:
        print(render(report))
    return 0


def sweep_when_free(
    sweep: Callable[[], dict[str, Any]], *, wait: float = BUSY_WAIT, pause: float = 0.5
) -> dict[str, Any] | None:
    """The report of one sweep run here, retried while another sweep holds the lease; None
    when the lease stays taken for ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        report = sweep()
        if not report.get("skipped"):
            return report
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)


def _action(name: str, report: dict[str, Any]) -> str:
    if name in report.get("restarted", []):
        return "restarted"
    if name in report.get("healed", []):
        return "healed"
    if name in report.get("failed", []):
        due = report.get("restart_due_in", {}).get(name)
        return "not recovered" + (f" (restart due in {due:.0f} s)" if due is not None else "")
    return "-"


def render(report: dict[str, Any]) -> str:
    """The sweep's report as two tables."""
    services = [
        (name, "yes" if seen.get("healthy") else "no", f"{seen.get('latency', 0.0) * 1000:.0f} ms",
         seen.get("detail") or "-", _action(name, report))
        for name, seen in sorted(report.get("health", {}).items())
    ]  # fmt: skip
    consumers = [
        (c["worker"], c["queue"], c["kind"], c["action"], "yes" if c["repaired"] else "no")
        for c in report.get("consumers", [])
    ]
    return "\n\n".join([
        "Services\n" + table(("SERVICE", "HEALTHY", "PROBE", "DETAIL", "ACTION"), services,
                             empty="no services configured"),
        "Workers' consumers\n" + table(("WORKER", "QUEUE", "FOUND", "ACTION", "REPAIRED"),
                                       consumers, empty="every worker consumes its queues"),
    ])  # fmt: skip
