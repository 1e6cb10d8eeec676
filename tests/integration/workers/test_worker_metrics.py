"""A prefork worker's metrics, written by its children to OUTLAST_METRICS_DIR, collected
as one exposition that Prometheus's own parser reads, with the counts summed over children.

The worker (-c 2) runs tasks that succeed holding a bulkhead permit, that call a failing
probe through a breaker which opens on its first failure in each process (later calls are
rejected), that are dead-lettered, one retried on the broker, one whose retry is parked in
the store, and recoveries that succeed or fail. The test knows which child ran what (each
task notes its pid in Redis), so every expected count is exact. When the worker stops, its
children drop their live gauges and their counters stay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from _metrics_ops import POOL, PROBE_BREAKER
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.config import reload_settings
from outlast.monitoring import metrics

TESTS_DIR = Path(__file__).resolve().parents[2]
NODE = f"metrics-{os.getpid()}@localhost"
OK, PROBES, POISON = 3, 6, 2
EXPECTED_RUNS = {
    ("tests.metrics_ok", "SUCCESS"): OK,
    ("tests.metrics_probe", "SUCCESS"): PROBES,
    ("tests.metrics_poison", "FAILURE"): POISON,
    ("tests.metrics_flaky", "RETRY"): 1,
    ("tests.metrics_flaky", "SUCCESS"): 1,
    ("tests.metrics_recover", "SUCCESS"): 3,
    ("tests.metrics_parked", "IGNORED"): 1,
}
EVERY_FAMILY = {spec.name: spec.kind for spec in (*metrics.FAMILIES, metrics.ACTIVE_ALERTS)}


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The metrics directory, holding a stale file of the worker's earlier run and the
    subdirectory of a worker that is gone; this process reads it as the exposition would."""
    root = tmp_path / "metrics"
    metrics.instance_dir(root, NODE).mkdir(parents=True)
    (metrics.instance_dir(root, NODE) / "counter_1.db").write_bytes(b"left by an earlier run")
    retired = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    (root / "retired@old-host").mkdir()
    (root / "retired@old-host" / f"counter_{retired.stdout.strip()}.db").write_bytes(b"gone")
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(root))
    reload_settings()
    return root


@pytest.fixture
def env(redis_url: str, namespace: str, metrics_dir: Path) -> dict[str, str]:
    """The worker's environment: local breakers, the probe's opening at its first failure."""
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_STATE_SCOPE": "local",
        "OUTLAST_RETRY_PARK_THRESHOLD": "10",  # the 60 s retry is parked, the 0.2 s one is not
        "OUTLAST_METRICS_DIR": str(metrics_dir),
        "OUTLAST_TASK_MODULES": '["_metrics_ops"]',
        "OUTLAST_CIRCUIT_BREAKERS": json.dumps(
            {PROBE_BREAKER: {"failure_threshold": 1, "recovery_timeout": 600}}
        ),
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker with two children on the operations queue, called ``NODE``."""
    command = celery_worker_command(["operations"], concurrency=2)
    command[command.index("-n") + 1] = NODE
    with start_worker(env, command) as running:
        yield running


def enqueue(env: dict[str, str], prefix: str) -> None:
    """Send every task of the test from a separate process, as an application would."""
    names = (
        ["tests.metrics_ok"] * OK
        + ["tests.metrics_probe"] * PROBES
        + ["tests.metrics_poison"] * POISON
        + ["tests.metrics_flaky", "tests.metrics_parked"]
    )
    items: list[list[Any]] = [[name, [prefix]] for name in names]
    items += [["tests.metrics_recover", [prefix, succeed]] for succeed in (True, True, False)]
    script = (
        "import json, sys, _metrics_ops\n"
        "from outlast.workers import enqueue\n"
        "for name, args in json.loads(sys.argv[1]): enqueue(name, *args)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(items)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def scrape() -> str:
    """The exposition as /metrics would serve it (alerts left empty: no store needed)."""
    return metrics.exposition(read_alerts=list)[0].decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The values of the samples called ``name``, by their labels (pid dropped)."""
    found: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid"))] += s.value
    return dict(found)


def runs(text: str) -> dict[tuple[str, str], float]:
    """Task runs observed by the latency histogram, by task and state."""
    counts = samples(text, "outlast_task_duration_seconds_count")
    return {(dict(labels)["task"], dict(labels)["state"]): n for labels, n in counts.items()}


def wait_for_runs(timeout: float = 60.0) -> str:
    """Scrape until every task has run (and been observed); the last exposition."""
    deadline = time.monotonic() + timeout
    text = scrape()
    while runs(text) != EXPECTED_RUNS and time.monotonic() < deadline:
        time.sleep(0.2)
        text = scrape()
    assert runs(text) == EXPECTED_RUNS
    return text


def pids(redis_url: str, key: str) -> list[int]:
    """The pids the tasks noted under ``key``."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [int(p) for p in client.lrange(key, 0, -1)]
    finally:
        client.close()


def test_prefork_children_metrics_add_up_in_one_exposition(
    worker: WorkerProcess,
    env: dict[str, str],
    redis_url: str,
    redis_key_prefix: str,
    metrics_dir: Path,
) -> None:
    """Every family carries HELP and TYPE; task runs, errors, rejections, breaker
    transitions and state, dead letters, retries and recoveries are the exact sums over the
    children, and each child's bulkhead sample is its own series."""
    own = metrics.instance_dir(metrics_dir, NODE)
    assert not (own / "counter_1.db").exists()  # the worker emptied its directory
    assert not (metrics_dir / "retired@old-host").exists()  # and removed a gone worker's
    enqueue(env, redis_key_prefix)
    text = wait_for_runs()
    children = {
        pid
        for kind in ("ok", "probe", "poison", "flaky", "recover", "parked")
        for pid in pids(redis_url, f"{redis_key_prefix}:{kind}")
    }

    parsed = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert parsed == EVERY_FAMILY
    for name, kind in EVERY_FAMILY.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert f"# HELP {exposed} " in text
        assert f"# TYPE {exposed} {kind}\n" in text

    probing = set(pids(redis_url, f"{redis_key_prefix}:probe"))
    first_failures, rejections = len(probing), PROBES - len(probing)
    errors = samples(text, "outlast_errors_total")
    probe_errors = {
        (("category", "network"), ("error_type", "ConnectionError")): first_failures,
        (("category", "network"), ("error_type", "CircuitBreakerOpenError")): rejections,
    }
    assert {labels: errors.pop(labels, 0.0) for labels in probe_errors} == probe_errors
    # The failed attempts of the tasks themselves, where the worker announces them.
    assert (
        errors.items()
        <= {
            (("category", "validation"), ("error_type", "ValueError")): POISON,
            (("category", "timeout"), ("error_type", "TimeoutError")): 2,
        }.items()
    )
    assert samples(text, "outlast_circuit_breaker_transitions_total") == {
        (("breaker", PROBE_BREAKER), ("from_state", "closed"), ("to_state", "open")): len(probing)
    }
    breaker = (("breaker", PROBE_BREAKER),)
    if rejections:
        assert samples(text, "outlast_circuit_breaker_rejections_total") == {breaker: rejections}
    assert samples(text, "outlast_circuit_breaker_state") == {breaker: 2.0}
    assert samples(text, "outlast_dead_letters_total") == {
        (("task", "tests.metrics_poison"),): POISON
    }
    assert samples(text, "outlast_retries_total") == {
        (("operation", "tests.metrics_flaky"),): 1,  # on the broker
        (("operation", "tests.metrics_parked"),): 1,  # parked in the store
    }
    assert samples(text, "outlast_recoveries_total") == {
        (("outcome", "succeeded"), ("strategy", "immediate_retry")): 2,
        (("outcome", "failed"), ("strategy", "immediate_retry")): 1,
    }
    in_use = [s for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "outlast_bulkhead_in_use"]  # fmt: skip
    assert in_use  # sampled after tasks, one series per live child (pid label), all free now
    assert {(s.labels["bulkhead"], s.value) for s in in_use} == {(POOL, 0.0)}
    assert {int(s.labels["pid"]) for s in in_use} <= children

    for pid in children:  # the samples come from the children's own files
        assert (own / f"histogram_{pid}.db").exists()
    assert worker.pid not in children

    worker.stop()
    after = metrics.exposition(read_alerts=list, sweep=False)[0].decode()
    assert samples(after, "outlast_circuit_breaker_state") == {}  # children marked dead
    assert runs(after) == EXPECTED_RUNS  # what they counted stays
