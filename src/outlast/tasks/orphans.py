"""The orphan check on the ``recovery`` queue: work a dead worker held goes back to its
queue, once.

Beat sends ``outlast.recovery.requeue_orphans`` every ``orphan_check_interval`` seconds;
every worker on a Redis broker also runs the same check after each heartbeat (unless
``orphan_check_in_workers`` is off), so the task is the backstop, not the only way. See
``outlast.workers.orphans._orphans`` for what a check does and why it moves a message only once.
A move the task made is recorded (``outlast.workers.orphans._orphan_records``) before it returns,
or within ``RECORD_WAIT`` seconds.
"""

from __future__ import annotations

from typing import Any, Final

from outlast.workers import app
from outlast.workers.orphans._orphan_guard import check_orphans

__all__ = ["REQUEUE_ORPHANS", "requeue_orphans"]

REQUEUE_ORPHANS = "outlast.recovery.requeue_orphans"
RECORD_WAIT: Final = 10.0


@app.task(name=REQUEUE_ORPHANS, bind=True)
def requeue_orphans(self: Any) -> dict[str, int]:
    """Move the messages of workers whose heartbeat lapsed back to their queues; the
    number moved per dead worker (empty when none died, or the broker is not Redis)."""
    by = f"{REQUEUE_ORPHANS}@{self.request.hostname}"
    return dict(check_orphans(app, by=by, wait=RECORD_WAIT).moved)
