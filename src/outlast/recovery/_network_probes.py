"""Built-in probes of network services: SMTP (connect, EHLO, NOOP) and HTTP (GET a
health URL, expect a status).

Each probe opens its own connection and closes it; it keeps no client, so there is
nothing to heal between probes. Probes never raise: ``run_probe`` bounds them in time and
turns errors into unhealthy results.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import aiosmtplib
import httpx

from outlast.recovery._probe import DEFAULT_PROBE_TIMEOUT, Probe, ProbeResult

__all__ = ["http_probe", "smtp_probe"]


def smtp_probe(host: str, port: int, *, timeout: float = DEFAULT_PROBE_TIMEOUT) -> Probe:
    """Connect to ``host:port``, EHLO, NOOP and QUIT; healthy when NOOP answers 250."""

    async def probe() -> ProbeResult:
        started = time.perf_counter()
        smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, start_tls=False)
        try:
            await smtp.connect()
            await smtp.ehlo()
            reply = await smtp.noop()
            await smtp.quit()
        except BaseException:
            smtp.close()  # also when cut short: never leave the socket open
            raise
        return ProbeResult(
            healthy=reply.code == 250,
            latency=time.perf_counter() - started,
            detail=f"NOOP {reply.code}",
        )

    return probe


def http_probe(
    url: str,
    *,
    expected_status: Collection[int] = (200,),
    timeout: float = DEFAULT_PROBE_TIMEOUT,
) -> Probe:
    """GET ``url``; healthy when the status is one of ``expected_status``."""
    expected = frozenset(expected_status)

    async def probe() -> ProbeResult:
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
        return ProbeResult(
            healthy=response.status_code in expected,
            latency=time.perf_counter() - started,
            detail=f"HTTP {response.status_code}",
        )

    return probe
