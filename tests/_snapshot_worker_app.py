"""A worker app whose workers publish their registries, with one task that opens a local
breaker in the pool process that runs it (``tests.snapshots.trip``).

``celery -A _snapshot_worker_app worker`` is Outlast's worker with the registry snapshot
bootstep added (as ``outlast.workers`` adds it) and no task module of Outlast's.
"""

from __future__ import annotations

import os

from outlast.resilience import get_circuit_breaker
from outlast.workers import create_app
from outlast.workers._registry_snapshot import RegistrySnapshotStep

app = create_app(main="snapshots")
app.conf.include = []
app.steps["worker"].add(RegistrySnapshotStep)


@app.task(name="tests.snapshots.trip")  # type: ignore[untyped-decorator]  # celery
def trip(name: str) -> int:
    """Open the local breaker ``name`` here; the pid of the process that did."""
    get_circuit_breaker(name, scope="local").force_open()
    return os.getpid()
