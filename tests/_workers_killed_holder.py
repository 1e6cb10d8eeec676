"""The start of the orphan tests on a killed worker: a holding worker takes ``HELD`` runs
of the counting operation and is SIGKILLed holding them, its heartbeat left to lapse, so
that what it held waits for an orphan check to move it."""

from __future__ import annotations

import time

from celery import Celery

from _orphan_workers import Runs, send_runs, start_holder, wait_until_held

__all__ = ["kill_holding_worker"]

LAPSE = 1.6
"""Seconds after the kill by which a heartbeat of ``FAST_BEATS`` (TTL 1.5 s) has lapsed."""


def kill_holding_worker(env: dict[str, str], results: Celery, runs: Runs) -> None:
    """Send the runs, SIGKILL the worker once it holds them all, wait out its heartbeat."""
    with start_holder(env) as holder:
        send_runs(results, runs.prefix)
        wait_until_held(results, runs)
        holder.kill()
    time.sleep(LAPSE)
