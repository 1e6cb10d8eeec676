"""A process that exits right after its calls still tells the cluster what they did: the
outcomes a cluster breaker holds between flushes are sent at exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from _cluster_breaker_support import cluster_link

TESTS_DIR = Path(__file__).resolve().parents[3]

# Two failures, below the threshold (so nothing wakes the flusher), with the flusher's
# next tick a minute away; then the process exits at once.
SCRIPT = """
import sys, time
from _cluster_breaker_support import cluster_breaker
from outlast.resilience.shared._redis_link import RedisLink

def down():
    raise ConnectionError("down")

link = RedisLink(sys.argv[1], namespace=sys.argv[2])
breaker, _ = cluster_breaker(
    link, "exit", failure_threshold=5, backend_options={"flush_interval": 60.0}
)
breaker.state  # the first use reads the cluster's view
time.sleep(0.5)  # that read is done: what follows waits for the next tick, a minute away
for _ in range(2):
    try:
        breaker.call_sync(down)
    except ConnectionError:
        pass
# Nothing of the two failures is in Redis yet: only the exit can send them.
sys.exit(3 if link.client.hget(link.key("cb", "exit"), "fail") is not None else 0)
"""


def test_outcomes_recorded_just_before_exit_reach_redis(redis_url: str) -> None:
    """Two failures recorded a moment before the process exits are in the shared state."""
    with cluster_link(redis_url) as link:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, redis_url, link.namespace],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        client = redis.Redis.from_url(redis_url)
        try:
            failures, consecutive = client.hmget(link.key("cb", "exit"), "fail", "cons")
        finally:
            client.close()
    assert (failures, consecutive) == (b"2", b"2")
