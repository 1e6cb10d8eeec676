"""The broker's Redis crashes and comes back, many runs: lost payments, double charges, resume.

Each run (``tests/_broker_crash.py``): a redis-server of its own (a free port, its own
directory, append-only with ``appendfsync always``) is broker, result backend and store of
one prefork worker (``-c 2``, payments queue, 10 s visibility timeout) charging at a loopback
gateway that answers in 50 ms. 60 payments are enqueued; once 15 are charged the
redis-server is SIGKILLed, kept down 5 s and restarted on the same files; the worker is left
running; 20 more payments are enqueued. A run ends when all 80 are charged or 60 s after the
restart.

Prints per run and in total: payments charged once, *lost* (never charged by the deadline),
*double-charged*, the time from the restart to the first charge after it (*resume*), and
whether the worker was still alive. Target: 0 lost, 0 double-charged, resume within 10 s.

Run: ``.venv/bin/python bench/broker_crash.py --runs 20 --load`` (``--load`` keeps one
core busy with a spinning process it owns; ``--beat`` runs the worker with its embedded
beat, which the lost-message reconciler needs). It stops by itself: every wait has a
deadline, every process it started is stopped by its id and each run's Redis directory
is deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

from _broker_crash import CrashOutcome, busy_core, run_broker_crash  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load", action="store_true", help="keep one core busy")
    parser.add_argument("--beat", action="store_true", help="worker with embedded beat (-B)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds after restart")
    options = parser.parse_args()
    print(f"{options.runs} runs; host {'loaded (one core busy)' if options.load else 'idle'}")
    started = time.monotonic()
    spinner = busy_core() if options.load else contextlib.nullcontext(0)
    outcomes: list[CrashOutcome] = []
    with spinner:
        for run in range(1, options.runs + 1):
            outcome = run_broker_crash(
                namespace=f"crash{uuid.uuid4().hex[:6]}", with_beat=options.beat,
                deadline=options.deadline,
            )  # fmt: skip
            outcomes.append(outcome)
            print_run(run, outcome)
    summary(outcomes)
    print(f"time: {time.monotonic() - started:.0f} s")


def print_run(run: int, outcome: CrashOutcome) -> None:
    resumed = "never" if outcome.resumed_after is None else f"{outcome.resumed_after:.1f} s"
    print(
        f"run {run:>2}: charged once {outcome.charged_once}/{outcome.payments}, "
        f"lost {len(outcome.lost)}, double {len(outcome.double_charged)}, resume {resumed}, "
        f"worker {'alive' if outcome.worker_alive else 'DEAD'}, "
        f"ledger resent {outcome.resent}, watchdog events {outcome.watchdog_events}",
        flush=True,
    )
    for key, where in list(outcome.diagnosis.items())[:5]:
        if key != "worker log tail":
            print(f"    lost {key}: {where}")
    if "worker log tail" in outcome.diagnosis:
        path = Path(tempfile.gettempdir()) / f"broker-crash-run-{run}-{os.getpid()}.log"
        path.write_text(outcome.diagnosis["worker log tail"])
        print(f"    worker log tail: {path}")


def summary(outcomes: list[CrashOutcome]) -> None:
    resumes = [o.resumed_after for o in outcomes if o.resumed_after is not None]
    never = sum(1 for o in outcomes if o.resumed_after is None)
    print(
        f"runs {len(outcomes)}: all charged once {sum(1 for o in outcomes if o.ok)}, "
        f"with a lost payment {sum(1 for o in outcomes if o.lost)} "
        f"({sum(len(o.lost) for o in outcomes)} payments), "
        f"double charges {sum(len(o.double_charged) for o in outcomes)}, "
        f"never resumed {never}, ledger resent {sum(o.resent for o in outcomes)}, "
        f"watchdog events {sum(o.watchdog_events for o in outcomes)}"
    )
    if resumes:
        print(
            f"resume after restart: median {statistics.median(resumes):.1f} s, "
            f"worst {max(resumes):.1f} s"
        )


if __name__ == "__main__":
    main()
