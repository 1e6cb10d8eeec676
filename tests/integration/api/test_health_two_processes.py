"""Two processes with local breakers and bulkheads of their own: the health report, read
in a third (this test's), shows both, merged by name, and forgets a process that stopped.

Each process is ``tests/_registry_process.py`` (a plain Python process publishing its
registries to Redis, as a worker's pool processes do).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _api_support import READ_TOKEN, auth

SCRIPT = Path(__file__).parents[2] / "_registry_process.py"


@pytest.fixture
def processes(redis_url: str, namespace: str) -> Iterator[list[subprocess.Popen[str]]]:
    """Two publishing processes, "alpha" (breaker closed) and "beta-open" (breaker open)."""
    started = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), redis_url, namespace, label],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for label in ("alpha", "beta-open")
    ]
    try:
        for process in started:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


async def report(client: httpx.AsyncClient) -> dict[str, Any]:
    """The health report (any status)."""
    response = await client.get("/family/health/error-handling", headers=auth(READ_TOKEN))
    body: dict[str, Any] = response.json()
    return body


async def test_report_shows_both_processes(
    client: httpx.AsyncClient, processes: list[subprocess.Popen[str]]
) -> None:
    """Each process's own breaker and bulkhead appear; a shared name is merged over both."""
    body = await report(client)
    breakers = body["error_handling"]["circuit_breakers"]
    assert breakers["alpha-breaker"]["state"] == "closed"
    assert breakers["beta-open-breaker"]["state"] == "open"
    assert breakers["shared-name"] == {"state": "closed", "failure_count": 0, "success_count": 2}
    bulkheads = body["error_handling"]["bulkheads"]
    assert bulkheads["alpha-pool"] == {"capacity": 3, "active_count": 1, "rejection_rate": 0.0}
    assert bulkheads["beta-open-pool"]["active_count"] == 1
    assert body["status"] == "degraded"  # beta's breaker is open


async def test_stopped_process_leaves_the_report(
    client: httpx.AsyncClient, processes: list[subprocess.Popen[str]]
) -> None:
    """A process that stops withdraws its snapshot: its breakers leave the report."""
    beta = processes[1]
    assert beta.stdin is not None
    beta.stdin.close()
    beta.wait(timeout=10)
    deadline = time.monotonic() + 5
    breakers = (await report(client))["error_handling"]["circuit_breakers"]
    while "beta-open-breaker" in breakers and time.monotonic() < deadline:
        breakers = (await report(client))["error_handling"]["circuit_breakers"]
    assert "beta-open-breaker" not in breakers
    assert breakers["shared-name"]["success_count"] == 1
