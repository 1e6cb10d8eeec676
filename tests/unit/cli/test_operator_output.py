"""What the operators' commands print for people: aligned tables, the status and recovery
reports as titled tables, and silence durations read from text."""

from __future__ import annotations

import argparse

import pytest

from outlast.cli._alerts import duration
from outlast.cli._console import table
from outlast.cli._recover import render as render_sweep
from outlast.cli._status import render as render_status
from outlast.cli._status import seconds


def test_table_aligns_columns_and_marks_missing_values() -> None:
    """Columns as wide as their widest cell; None shows as '-', floats with two decimals."""
    assert table(("NAME", "RATE"), [("db", 0.5), ("payments", None)]).splitlines() == [
        "  NAME      RATE",
        "  db        0.50",
        "  payments  -",
    ]
    assert table(("NAME",), [], empty="nothing") == "  nothing"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0),
                          ("1.5d", 129600.0)],
)  # fmt: skip
def test_duration_reads_units(text: str, seconds: float) -> None:
    """A number with an optional s, m, h or d unit is that many seconds."""
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "5y", "-1h", "31d", "soon"])
def test_duration_refuses_nonsense(text: str) -> None:
    """Zero, unknown units, negatives, over 30 days and words are refused by argparse."""
    with pytest.raises(argparse.ArgumentTypeError, match="is not a duration"):
        duration(text)


def test_status_report_reads_as_titled_tables() -> None:
    """Each part of the status report is a titled table; empty parts say so."""
    text = render_status({
        "breakers": {"db": {"state": "open", "failure_count": 5, "success_count": 2}},
        "bulkheads": {"pool": {"capacity": 4, "active_count": 1, "rejection_rate": 0.25}},
        "queues": {"emails": {"depth": None, "consumers": ["w1@h", "w2@h"]}},
        "workers": ["w1@h", "w2@h"],
        "held": {"parked_retries": 3, "parked_due": 1, "dead_letters": 0},
        "alerts": [],
    })  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert rows["db"] == ["open", "5", "2"]
    assert (rows["parked_retries"], rows["dead_letters"]) == (["3", "1"], ["0", "-"])
    assert rows["pool"] == ["1", "4", "25.0%"]
    assert rows["emails"] == ["-", "2", "w1@h,", "w2@h"]
    assert text.endswith("Active alerts\n  (none)")


def test_sweep_report_names_each_services_outcome() -> None:
    """Healthy services show no action; a failed one says so and when its restart is due."""
    text = render_sweep({
        "health": {"cache": {"healthy": True, "latency": 0.002, "detail": "PONG"},
                   "smtp": {"healthy": False, "latency": 1.0, "detail": "timed out"}},
        "healed": [], "restarted": [], "failed": ["smtp"], "restart_due_in": {"smtp": 12.0},
        "consumers": [{"worker": "w1@h", "queue": "emails", "kind": "lost_queue",
                       "action": "reconsume", "repaired": True}],
    })  # fmt: skip
    lines = text.splitlines()
    assert lines[2].split() == ["cache", "yes", "2", "ms", "PONG", "-"]
    assert lines[3].split()[:2] == ["smtp", "no"]
    assert lines[3].endswith("not recovered (restart due in 12 s)")
    assert lines[-1].split() == ["w1@h", "emails", "lost_queue", "reconsume", "yes"]


def test_status_timeout_is_a_bounded_number_of_seconds() -> None:
    """--timeout takes seconds above 0 and up to 60; anything else is refused."""
    assert seconds("0.5") == 0.5
    for text in ("0", "-1", "61", "soon"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a number of seconds"):
            seconds(text)
