"""Operations for the monitoring tests: one that takes a while and succeeds."""

from __future__ import annotations

import time

from outlast.config import RetryConfig
from outlast.workers import operation


@operation("monslow.query", retry=RetryConfig(max_attempts=1))
def slow_query(seconds: float) -> str:
    """Succeed after ``seconds``."""
    time.sleep(seconds)
    return "done"
