"""The broker's Redis is SIGKILLed mid-run and restarted on its files: nothing is lost.

One run of ``tests/_broker_crash.py``: a redis-server this test owns (append-only,
``appendfsync always``) is broker, results and store of a prefork worker (``-c 2``, with
its embedded beat for the ledger sweep) charging 60 payments at a gateway answering in
50 ms; after 15 charges the server is SIGKILLed, kept down 5 s and restarted; 20 more
payments follow. ``bench/broker_crash.py`` repeats it (``--runs 20 --load``). Redis broker
only: the loss it guards against is kombu's Redis transport's.
"""

from __future__ import annotations

import uuid

from _broker_crash import run_broker_crash


def test_every_payment_is_charged_once_across_a_broker_crash() -> None:
    """All 80 payments charged exactly once, none lost, and charging resumed within 10 s
    of the restart, with the worker left running throughout."""
    outcome = run_broker_crash(namespace=f"crash{uuid.uuid4().hex[:6]}", with_beat=True)
    summary = (outcome.lost, outcome.double_charged, outcome.worker_alive)
    assert summary == ([], [], True), outcome.diagnosis
    assert outcome.charged_once == outcome.payments == 80
    assert outcome.resumed_after is not None
    assert outcome.resumed_after <= 10.0
