"""How the demo shows itself: a live table on a terminal, plain lines anywhere else, and the
closing summary.

On a terminal (rich) the table of queues, the breaker, retries and dead letters is redrawn
in place and each piece of news scrolls above it; without one (a pipe, a file, a test)
every piece of news is one timestamped line, so the output reads as a log. Both end with
the same summary. It never decides anything: it shows the snapshots it is given.
"""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from outlast.cli._demo_watch import Snapshot

__all__ = ["View", "open_view", "status_line", "summary_lines"]


class View(Protocol):
    """Where the demo's news and snapshots go."""

    def say(self, line: str, elapsed: float) -> None:
        """Show one piece of news."""

    def update(self, snapshot: Snapshot) -> None:
        """Show the system as it is now."""

    def close(self) -> None:
        """Stop redrawing; what was shown stays."""


def _stamped(line: str, elapsed: float) -> str:
    return f"[{elapsed:5.1f}s] {line}"


class _PlainView:
    def say(self, line: str, elapsed: float) -> None:
        print(_stamped(line, elapsed), flush=True)

    def update(self, snapshot: Snapshot) -> None:
        """Plain output has no place to redraw: the news lines carry everything."""

    def close(self) -> None:
        sys.stdout.flush()


def _table(snapshot: Snapshot) -> Table:
    table = Table(title=f"outlast demo: {snapshot.phase}  ({snapshot.elapsed:.0f}s)")
    table.add_column("what")
    table.add_column("now", justify="right")
    waiting = ", ".join(f"{queue} {count}" for queue, count in snapshot.waiting.items())
    rows = [
        ("queues (messages waiting)", waiting),
        ("payment gateway", snapshot.gateway_mode),
        ("breaker payments_gateway", f"{snapshot.breaker} (opened {snapshot.breaker_opened}x)"),
        ("payments charged", f"{snapshot.charged} of {snapshot.payments_queued}"),
        ("gateway refusals (each one retried)", str(snapshot.gateway_failures)),
        ("emails delivered", f"{snapshot.delivered} of {snapshot.emails_queued}"),
        ("dead letters (replayed)", f"{len(snapshot.dead_letters)} ({snapshot.replayed})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


class _LiveView:
    def __init__(self) -> None:
        self._console = Console()
        self._live = Live(console=self._console, refresh_per_second=8, transient=False)
        self._live.start()

    def say(self, line: str, elapsed: float) -> None:
        self._console.print(_stamped(line, elapsed), markup=False, highlight=False)

    def update(self, snapshot: Snapshot) -> None:
        self._live.update(_table(snapshot))

    def close(self) -> None:
        self._live.stop()


def open_view() -> View:
    """The live view on a terminal, plain lines otherwise."""
    return _LiveView() if sys.stdout.isatty() else _PlainView()


def status_line(snapshot: Snapshot) -> str:
    """The table's figures on one line, for the end of each step."""
    waiting = ", ".join(f"{queue} {count}" for queue, count in snapshot.waiting.items())
    return (
        f"status: waiting {waiting}; breaker {snapshot.breaker}; charged "
        f"{snapshot.charged}/{snapshot.payments_queued}; gateway refusals "
        f"{snapshot.gateway_failures}; emails delivered {snapshot.delivered}; dead letters "
        f"{len(snapshot.dead_letters)} (replayed {snapshot.replayed})"
    )


def summary_lines(snapshot: Snapshot) -> list[str]:
    """The closing summary: every count the demo promises, read from the system itself."""
    return [
        "summary:",
        f"  payments queued        {snapshot.payments_queued}",
        f"  payments charged       {snapshot.charged} (each by one accepted request; "
        f"{snapshot.repeats} repeats), by the gateway's own ledger",
        f"  gateway refusals       {snapshot.gateway_failures} (each retried with backoff)",
        f"  breaker opened         {snapshot.breaker_opened} time(s); "
        f"{snapshot.requests_while_down} requests reached the gateway while it was down",
        f"  emails delivered       {snapshot.delivered} of {snapshot.emails_queued} "
        "(one after its replay)",
        f"  dead letters           {len(snapshot.dead_letters)}, replayed {snapshot.replayed}",
        f"  took                   {snapshot.elapsed:.1f}s",
    ]
