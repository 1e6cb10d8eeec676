"""Gathers what the alert rules judge: shared window counts from Redis, the recent error
events from the store, per-minute error series, and the open breakers (of the whole
cluster: ``_breaker_states``).

Counts and series come from the shared Redis windows (the same numbers in every process);
what the windows do not split by service (severity, category, recovery flags, message
markers) comes from the store's events of the rules' window, at most ``max_events`` of
them. :func:`per_service` and :func:`minute_series` are pure; :func:`gather_inputs` reads.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._alert_rules import AlertInputs, ServiceCounts
from outlast.monitoring._event import service_of
from outlast.monitoring._stats import CounterReader, WindowTotals
from outlast.monitoring._windows import FINE, WINDOWS, Dim, bucket_suffixes, parse_field
from outlast.resilience.shared._redis_link import Unavailable

if TYPE_CHECKING:
    from outlast.store import ErrorEvent, Store

__all__ = ["gather_inputs", "minute_series", "per_service"]

_HIGH = (ErrorSeverity.HIGH, ErrorSeverity.CRITICAL)
_SLOW_CATEGORIES = ("timeout", "resource")


def per_service(
    totals: WindowTotals, events: Iterable[ErrorEvent], rules: AlertRules
) -> dict[str, ServiceCounts]:
    """Each service's counts over the rules' window."""
    tallies: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        service = _service(event)
        tallies[service].update(_event_marks(event, rules))
    names = totals.names(rules.window, Dim.SERVICE) | set(tallies)
    found = {}
    for name in names:
        errors = totals.count(rules.window, Dim.SERVICE, name, "e")
        calls = errors + totals.count(rules.window, Dim.SERVICE, name, "s")
        slow_calls = totals.count(rules.window, Dim.SERVICE, name, "w")
        marks = tallies[name]
        found[name] = ServiceCounts(
            errors=errors, calls=calls, high_severity=marks["high"],
            slow=marks["slow"] + slow_calls,
            recovery_failures=marks["recovery"], auth_failures=marks["auth"],
            injection_attempts=marks["injection"],
        )  # fmt: skip
    return found


def _service(event: ErrorEvent) -> str:
    context = event.context if isinstance(event.context, dict) else {}
    named = context.get("service")
    return named if isinstance(named, str) and named else service_of(event.operation)


def _event_marks(event: ErrorEvent, rules: AlertRules) -> list[str]:
    context = event.context if isinstance(event.context, dict) else {}
    category = context.get("category")
    marks = []
    if event.severity in _HIGH:
        marks.append("high")
    if category in _SLOW_CATEGORIES:
        marks.append("slow")
    if event.recovery_attempted and event.recovery_successful is False:
        marks.append("recovery")
    if category == "security":
        marks.append("auth")
    text = event.message.lower()
    if category == "validation" and any(m.lower() in text for m in rules.injection_markers):
        marks.append("injection")
    return marks


def minute_series(
    buckets: Sequence[Mapping[bytes, bytes]], first_bucket: int, now: float
) -> dict[str, list[int]]:
    """Errors per complete minute and service, oldest first, from consecutive 10-second
    buckets starting at bucket number ``first_bucket`` (the current minute left out)."""
    per_minute = 60 // FINE.seconds
    current = int(now // 60)
    first = -(-first_bucket // per_minute)  # the first minute the buckets cover whole
    minutes = list(range(first, current))
    series: dict[str, list[int]] = {}
    for offset, bucket in enumerate(buckets):
        minute = (first_bucket + offset) // per_minute
        if minute < first or minute >= current:
            continue
        for raw, value in bucket.items():
            dim, name, kind = parse_field(raw.decode())
            if dim is Dim.SERVICE and kind == "e":
                row = series.setdefault(name, [0] * len(minutes))
                row[minute - first] += int(value)
    return series


async def gather_inputs(
    reader: CounterReader,
    store: Store,
    now: float,
    rules: AlertRules,
    *,
    breakers: Mapping[str, str],
    max_events: int,
) -> AlertInputs | None:
    """Everything the rules judge at ``now``; None if Redis did not answer."""
    totals = await asyncio.to_thread(reader.read, now)
    buckets = await asyncio.to_thread(_fine_buckets, reader, now)
    if totals is None or buckets is None:
        return None
    since = now - WINDOWS[rules.window]
    events = await store.list_error_events(since=since, until=now, limit=max_events)
    repeated = [
        f
        for f in totals.names(rules.window, Dim.FINGERPRINT)
        if totals.count(rules.window, Dim.FINGERPRINT, f, "e") >= rules.repeated_errors
    ]
    samples = await asyncio.to_thread(reader.samples, repeated)
    return AlertInputs(
        services=per_service(totals, events, rules),
        fingerprints=_fingerprints(totals, repeated, samples or [], rules.window),
        series=minute_series(buckets[0], buckets[1], now),
        open_breakers=dict(breakers),
    )


def _fingerprints(
    totals: WindowTotals, names: list[str], samples: Sequence[tuple[Any, Any, Any]], window: str
) -> dict[str, tuple[int, str, str]]:
    found = {}
    for name, (sample, _, _) in zip(names, samples, strict=False):
        data = json.loads(sample) if sample else {}
        count = totals.count(window, Dim.FINGERPRINT, name, "e")
        found[name] = (count, str(data.get("service", "unknown")),
                       str(data.get("operation", "unknown")))  # fmt: skip
    return found


def _fine_buckets(reader: CounterReader, now: float) -> tuple[list[Any], int] | None:
    suffixes = bucket_suffixes(now, 3600)
    first = int(suffixes[0].rsplit(":", 1)[1])

    def fetch(client: Any) -> list[Any]:
        pipeline = client.pipeline(transaction=False)
        for suffix in suffixes:
            pipeline.hgetall(reader.counters.key(suffix))
        replies: list[Any] = pipeline.execute()
        return replies

    replies = reader.counters.link.call(fetch)
    return None if isinstance(replies, Unavailable) else (replies, first)
