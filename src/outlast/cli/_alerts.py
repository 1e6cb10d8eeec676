"""``outlast alerts list|ack|silence|resolve``: the store's alerts, read and acted on.

Acknowledging stops an alert's escalation and records who took it (``--by``, else the
operating-system user); silencing mutes every alert with the alert's labels for a while;
resolving ends it. Each goes through the error monitor, as the health API's admin
endpoints do. An unknown alert id is one line and status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import socket
import time
from typing import Any

from outlast.cli._console import NOT_FOUND, USAGE, CommandError, emit_json, redis_url, store, table
from outlast.config import get_settings
from outlast.monitoring import ErrorMonitor, Matcher
from outlast.store import Alert, AlertStatus

__all__ = ["add_alerts_parser", "run_alerts"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SILENCE = 30 * 86400
_FETCH_LIMIT = 10_000  # filters apply after the store's own paging


def duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h`` or ``1d`` as seconds (at most 30 days)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    seconds = float(found[1]) * _UNITS[found[2] or "s"] if found else 0.0
    if not 0 < seconds <= _MAX_SILENCE:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 90s, 15m, 2h or 1d (at most 30 days)"
        )
    return seconds


def add_alerts_parser(commands: Any) -> None:
    """Register ``outlast alerts list|ack|silence|resolve``."""
    alerts = commands.add_parser("alerts", help="list, acknowledge, silence or resolve alerts")
    verbs = alerts.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="alerts, newest first")
    listing.add_argument("--resolved", action="store_true", help="resolved alerts instead")
    listing.add_argument("--severity", help="only this severity (e.g. critical)")
    listing.add_argument("--type", dest="alert_type", help="only this alert type")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    ack = verbs.add_parser("ack", help="acknowledge an alert: its escalation stops")
    ack.add_argument("alert_id", help="the alert's id, as outlast alerts list shows it")
    ack.add_argument("--by", help="who takes it (default: user@host)")
    silence = verbs.add_parser("silence", help="mute every alert with this alert's labels")
    silence.add_argument("alert_id", help="the alert whose labels to mute")
    silence.add_argument("--for", dest="duration", type=duration, default=3600.0,
                         help="how long: 90s, 15m, 2h, 1d (default 1h)")  # fmt: skip
    silence.add_argument("--comment", default="", help="why, kept with the silence")
    silence.add_argument("--by", help="who silenced it (default: user@host)")
    resolve = verbs.add_parser("resolve", help="end an alert now")
    resolve.add_argument("alert_id", help="the alert to end")
    for parser in (ack, silence, resolve):
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run_alerts(args: argparse.Namespace) -> int:
    """Do the verb and show what it did."""
    if args.verb == "list":
        return _list(args)
    result = asyncio.run(_act(args))
    if args.json:
        emit_json(result)
    elif args.verb == "silence":
        until = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(result["until"]))
        print(f"silenced {', '.join(result['matchers'])} until {until} ({result['silence_id']})")
    else:
        print(f"alert {result['id']}: {_state_line(result)}")
    return 0


def _state_line(alert: dict[str, Any]) -> str:
    if alert["status"] == AlertStatus.RESOLVED.value:
        return "resolved"
    return f"acknowledged by {alert['acknowledged_by']}"


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1", USAGE)
    chosen = asyncio.run(_listed(args))[: args.limit]
    if args.json:
        emit_json([alert.to_document() for alert in chosen])
        return 0
    rows = [(a.id, a.severity.value, a.alert_type, a.title, a.occurrences,
             _when(a.updated_at), a.acknowledged_by or "-") for a in chosen]  # fmt: skip
    print(table(("ID", "SEVERITY", "TYPE", "TITLE", "SEEN", "UPDATED", "ACKED BY"), rows,
                empty="no alerts"))  # fmt: skip
    return 0


async def _listed(args: argparse.Namespace) -> list[Alert]:
    status = AlertStatus.RESOLVED if args.resolved else AlertStatus.ACTIVE
    client = store()
    try:
        alerts = await client.list_alerts(status=status, limit=_FETCH_LIMIT)
    finally:
        await client.close()
    return [a for a in alerts
            if (args.severity is None or a.severity.value == args.severity.lower())
            and (args.alert_type is None or a.alert_type == args.alert_type)]  # fmt: skip


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _monitor() -> ErrorMonitor:
    """A monitor that only reads and acts on alerts (it records no events)."""
    return ErrorMonitor(
        redis_url=redis_url(), namespace=get_settings().namespace, open_store=store,
        store_events=False,
    )  # fmt: skip


def _operator(given: str | None) -> str:
    return given or f"{getpass.getuser()}@{socket.gethostname()}"


async def _act(args: argparse.Namespace) -> dict[str, Any]:
    monitor = _monitor()
    if args.verb == "ack":
        return _found(await monitor.aacknowledge(args.alert_id, by=_operator(args.by)), args)
    if args.verb == "resolve":
        return _found(await monitor.aresolve(args.alert_id), args)
    return await _silence(monitor, args)


def _found(alert: Alert | None, args: argparse.Namespace) -> dict[str, Any]:
    if alert is None:
        raise CommandError(f"no alert {args.alert_id!r} (see outlast alerts list)", NOT_FOUND)
    return alert.to_document()


async def _silence(monitor: ErrorMonitor, args: argparse.Namespace) -> dict[str, Any]:
    client = store()
    try:
        alert = await client.get_alert(args.alert_id)
    finally:
        await client.close()
    labels = _found(alert, args)["labels"]
    pairs = sorted(
        (str(k), str(v)) for k, v in (labels if isinstance(labels, dict) else {}).items()
    )
    matchers = [
        Matcher(n, v) for n, v in pairs or [("alertname", _found(alert, args)["alert_type"])]
    ]
    until = time.time() + args.duration
    made = await monitor.asilence(
        matchers, until, created_by=_operator(args.by), comment=args.comment
    )
    return {"silence_id": made.id, "matchers": [str(m) for m in matchers], "until": until}
