"""A fixture for metrics tests: fresh families, no subscription, single-process mode."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from prometheus_client import values

from outlast.monitoring import metrics

__all__ = ["fresh_metrics"]


@pytest.fixture
def fresh_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh families before and after; prometheus-client's value class and the
    multiprocess variable put back as they were."""
    monkeypatch.delenv(metrics.ENV_VARIABLE, raising=False)
    monkeypatch.delenv("OUTLAST_METRICS_DIR", raising=False)
    value_class = values.ValueClass
    metrics.unlisten()
    metrics.reset_families()
    yield
    metrics.unlisten()
    values.ValueClass = value_class
    os.environ.pop(metrics.ENV_VARIABLE, None)
    metrics.reset_families()
