"""Per-call overhead of Outlast's resilience layer against the anchors, in one run.

Prints microseconds per call (best of several repeats) and the ratios the targets are
stated in: ``handle_errors`` success path <= 0.3x tenacity's ``@retry``; the breaker alone
<= pybreaker; an open-breaker rejection < 2 us; the seed-schema validation < 15 us.

Run: ``.venv/bin/python bench/overhead.py`` (add ``--quick`` for a short run).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

import pybreaker
import stamina
import tenacity

from outlast import (
    Bulkhead,
    CircuitBreaker,
    CircuitBreakerOpenError,
    ErrorContext,
    RetryConfig,
    handle_errors,
    validate_input,
)
from outlast.config import BulkheadConfig, CircuitBreakerConfig

QUICK = "--quick" in sys.argv
NUMBER = 20_000 if QUICK else 100_000
REPEAT = 3 if QUICK else 7

SEED_SCHEMA: dict[str, dict[str, Any]] = {
    "name": {
        "required": True,
        "type": str,
        "min_length": 3,
        "max_length": 50,
        "pattern": r"^[a-zA-Z0-9_\s-]+$",
    },
    "email": {"required": True, "type": str, "validator": lambda x: "@" in x and "." in x},
}
SEED_INPUT = {"name": "The Smiths", "email": "smiths@example.com"}


def per_call_sync(fn: Callable[[], object]) -> float:
    """Best microseconds per call of ``fn`` over REPEAT runs of NUMBER calls."""
    return min(timeit.repeat(fn, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def per_call_async(fn: Callable[[], Awaitable[object]]) -> float:
    """Best microseconds per awaited call of ``fn``, inside one event loop."""

    async def run() -> float:
        best = float("inf")
        for _ in range(REPEAT):
            start = time.perf_counter()
            for _ in range(NUMBER):
                await fn()
            best = min(best, time.perf_counter() - start)
        return best / NUMBER * 1e6

    return asyncio.run(run())


def rejection_cost(call: Callable[[], object], error: type[BaseException]) -> float:
    """Best microseconds per call of ``call`` that raises ``error`` every time."""

    def once() -> None:
        with contextlib.suppress(error):
            call()

    return per_call_sync(once)


def build_outlast() -> dict[str, Callable[..., Any]]:
    breaker = CircuitBreaker("bench", config=CircuitBreakerConfig())
    bulkhead = Bulkhead("bench", config=BulkheadConfig(capacity=100))
    retry = RetryConfig(max_attempts=3)

    @handle_errors(circuit_breaker=breaker, bulkhead=bulkhead, retry_config=retry)
    def guarded() -> int:
        return 1

    @handle_errors(circuit_breaker=breaker, bulkhead=bulkhead, retry_config=retry)
    async def aguarded() -> int:
        return 1

    @breaker
    def breaker_only() -> int:
        return 1

    opened = CircuitBreaker("bench-open", config=CircuitBreakerConfig())
    opened.force_open()
    return {
        "sync": guarded,
        "async": aguarded,
        "breaker": breaker_only,
        "open": lambda: opened.call_sync(bare),
    }


def build_anchors() -> dict[str, Callable[..., Any]]:
    @tenacity.retry(stop=tenacity.stop_after_attempt(3))
    def ten() -> int:
        return 1

    @tenacity.retry(stop=tenacity.stop_after_attempt(3))
    async def aten() -> int:
        return 1

    @stamina.retry(on=ConnectionError, attempts=3)
    def stam() -> int:
        return 1

    @stamina.retry(on=ConnectionError, attempts=3)
    async def astam() -> int:
        return 1

    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    pb_open = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=600)
    pb_open.open()
    return {
        "tenacity": ten,
        "atenacity": aten,
        "stamina": stam,
        "astamina": astam,
        "pybreaker": pb(bare),
        "pybreaker_open": lambda: pb_open.call(bare),
    }


def bare() -> int:
    return 1


async def abare() -> int:
    return 1


def main() -> None:
    ours, anchors = build_outlast(), build_anchors()
    context = ErrorContext(operation="bench")
    rows = {
        "bare call (sync)": per_call_sync(bare),
        "bare call (async)": per_call_async(abare),
        "tenacity @retry (sync)": per_call_sync(anchors["tenacity"]),
        "tenacity @retry (async)": per_call_async(anchors["atenacity"]),
        "stamina @retry (sync)": per_call_sync(anchors["stamina"]),
        "stamina @retry (async)": per_call_async(anchors["astamina"]),
        "pybreaker call": per_call_sync(anchors["pybreaker"]),
        "pybreaker open rejection": rejection_cost(
            anchors["pybreaker_open"], pybreaker.CircuitBreakerError
        ),
        "handle_errors cb+bulkhead+retry (sync)": per_call_sync(ours["sync"]),
        "handle_errors cb+bulkhead+retry (async)": per_call_async(ours["async"]),
        "outlast breaker alone (sync decorator)": per_call_sync(ours["breaker"]),
        "outlast open rejection": rejection_cost(ours["open"], CircuitBreakerOpenError),
        "validate_input seed schema": per_call_sync(
            lambda: validate_input(SEED_INPUT, SEED_SCHEMA, context)
        ),
    }
    width = max(map(len, rows))
    for name, micros in rows.items():
        print(f"{name:<{width}}  {micros:8.3f} us")
    print()
    ratios = [
        (
            "handle_errors sync / tenacity sync",
            rows["handle_errors cb+bulkhead+retry (sync)"],
            rows["tenacity @retry (sync)"],
            "<= 0.30",
        ),
        (
            "handle_errors async / tenacity async",
            rows["handle_errors cb+bulkhead+retry (async)"],
            rows["tenacity @retry (async)"],
            "<= 0.30",
        ),
        (
            "handle_errors sync / stamina sync",
            rows["handle_errors cb+bulkhead+retry (sync)"],
            rows["stamina @retry (sync)"],
            "(info)",
        ),
        (
            "breaker alone / pybreaker",
            rows["outlast breaker alone (sync decorator)"],
            rows["pybreaker call"],
            "<= 1.00",
        ),
        (
            "open rejection / pybreaker open",
            rows["outlast open rejection"],
            rows["pybreaker open rejection"],
            "(info; absolute < 2 us)",
        ),
    ]
    for label, ours_us, theirs_us, target in ratios:
        print(f"{label:<{width}}  {ours_us / theirs_us:8.3f}x  target {target}")
    print(
        f"{'open rejection (absolute)':<{width}}  {rows['outlast open rejection']:8.3f} us"
        "  target < 2 us"
    )
    print(
        f"{'seed-schema validation (absolute)':<{width}}  "
        f"{rows['validate_input seed schema']:8.3f} us  target < 15 us"
    )


if __name__ == "__main__":
    main()
