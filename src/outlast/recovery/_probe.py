"""Health probes: what a probe answers (``ProbeResult``) and how one is run with a timeout.

A probe is an async callable that returns a ``ProbeResult`` or raises; ``run_probe`` turns
a raise or an overrun of the timeout into an unhealthy result, so a probe can never hang or
raise into its caller. This module never heals or restarts anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from outlast._clock import Clock

__all__ = ["DEFAULT_PROBE_TIMEOUT", "Probe", "ProbeResult", "run_probe"]

#: Kubernetes' default probe timeout (timeoutSeconds 1).
DEFAULT_PROBE_TIMEOUT = 1.0

Probe = Callable[[], Awaitable["ProbeResult"]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One probe's answer: healthy or not, how long it took (seconds), and why."""

    healthy: bool
    latency: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly copy, for health reports and recovery records."""
        return {"healthy": self.healthy, "latency": self.latency, "detail": self.detail}


async def run_probe(probe: Probe, *, limit: float, clock: Clock) -> ProbeResult:
    """Run ``probe`` for at most ``limit`` seconds; a raise or overrun is unhealthy."""
    started = clock.monotonic()
    try:
        result = await asyncio.wait_for(probe(), limit)
    except TimeoutError:
        return ProbeResult(healthy=False, latency=limit, detail=f"timed out after {limit} s")
    except Exception as error:
        detail = f"{type(error).__name__}: {error}"
        return ProbeResult(healthy=False, latency=clock.monotonic() - started, detail=detail)
    if result.latency:
        return result
    return ProbeResult(
        healthy=result.healthy, latency=clock.monotonic() - started, detail=result.detail
    )
