"""Tasks the CLI tests send a real worker (loaded through ``OUTLAST_TASK_MODULES``).

``tests.cli.breaker(name, scope)`` makes the worker use breaker ``name`` (one successful
call while it is closed) and answers the state it sees, so a test can tell whether a
command reached the worker's breaker.
"""

from __future__ import annotations

from outlast.resilience import CircuitState, get_bulkhead, get_circuit_breaker
from outlast.workers import app


@app.task(name="tests.cli.breaker")  # type: ignore[untyped-decorator]  # celery is untyped
def breaker(name: str, scope: str) -> str:
    """Use breaker ``name`` once if it is closed; the state this worker sees."""
    used = get_circuit_breaker(name, scope=scope)  # type: ignore[arg-type]
    if used.state is CircuitState.CLOSED:
        used.call_sync(lambda: None)
    return used.state.value


@app.task(name="tests.cli.bulkhead")  # type: ignore[untyped-decorator]  # celery is untyped
def bulkhead(name: str, capacity: int) -> int:
    """Make this worker hold a local bulkhead ``name`` of ``capacity``; its capacity."""
    return get_bulkhead(name, capacity, scope="local").stats()["capacity"]
