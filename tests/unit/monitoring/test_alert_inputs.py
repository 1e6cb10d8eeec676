"""What the alert rules read: per-minute series from 10-second buckets, and per-service
counts from window totals and stored events."""

from __future__ import annotations

from collections import Counter

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._alert_inputs import minute_series, per_service
from outlast.monitoring._stats import WindowTotals
from outlast.store import ErrorEvent


def bucket(**errors: int) -> dict[bytes, bytes]:
    """A 10-second bucket holding ``errors`` per service."""
    return {f"s|{name}|e".encode(): str(n).encode() for name, n in errors.items()}


def test_minute_series_sums_whole_minutes_and_leaves_the_current_one_out() -> None:
    """Buckets 3..20 (from 0:30 to 3:30) give minutes 1 and 2 whole; the partial minute 0
    and the current minute 3 are left out."""
    buckets = [bucket(api=1) for _ in range(3, 21)]
    series = minute_series(buckets, first_bucket=3, now=3 * 60 + 35)
    assert series == {"api": [6, 6]}


def test_minute_series_reads_only_service_error_fields() -> None:
    """Success counts and other dimensions do not enter the series."""
    noisy = {b"s|api|s": b"9", b"o|api.get|e": b"4", b"s|api|e": b"2"}
    assert minute_series([noisy] * 6, first_bucket=0, now=61) == {"api": [12]}


def event(operation: str, **fields: object) -> ErrorEvent:
    """A stored error event of ``operation`` at time 100."""
    values: dict[str, object] = {
        "error_type": "x.Err",
        "message": "failed",
        "severity": ErrorSeverity.MEDIUM,
        "occurred_at": 100.0,
    }
    values.update(fields)
    return ErrorEvent(operation=operation, **values)  # type: ignore[arg-type]


def test_per_service_counts_marks_from_events() -> None:
    """Severity, category, recovery flags and injection markers are counted per service
    (the context's service wins over the operation's prefix); calls come from the windows."""
    totals = WindowTotals(
        windows={"5m": Counter({"s|api|e": 4, "s|api|s": 96})}, totals={}, tallies={}
    )
    events = [
        event("api.get", severity=ErrorSeverity.HIGH, context={"category": "timeout"}),
        event("api.get", recovery_attempted=True, recovery_successful=False),
        event("api.login", context={"category": "security"}),
        event(
            "x.y", message="q: UNION SELECT *", context={"category": "validation", "service": "api"}
        ),
        event("api.get", message="q: union select", context={"category": "network"}),
    ]
    counts = per_service(totals, events, AlertRules())["api"]
    assert (counts.errors, counts.calls) == (4, 100)
    assert (counts.high_severity, counts.slow, counts.recovery_failures) == (1, 1, 1)
    assert (counts.auth_failures, counts.injection_attempts) == (1, 1)
