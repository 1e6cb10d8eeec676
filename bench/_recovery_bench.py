"""What ``bench/recovery.py`` and ``bench/health_sweep.py`` share: the services they fault,
the faults, the table of cases and the rows they print.

``fault_target(kind, mode)`` starts a loopback server (Redis, SMTP, or an HTTP health
endpoint) behind a TCP fault proxy and gives its address with the two actions a bench
times: ``fault`` (the proxy refuses or stalls, or HTTP answers 503) and ``back``. Importing
this module puts ``tests/`` on ``sys.path``, where the servers and the proxy live.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from _fault_proxy import FaultMode, FaultProxy  # noqa: E402
from _health_endpoint import HealthEndpoint  # noqa: E402
from _servers import start_redis_server  # noqa: E402
from _smtp_server import start_smtp_server  # noqa: E402

QUICK = "--quick" in sys.argv
HEALED_TARGET = 1.0  # seconds from the service's return to a passing heal

Kind = Literal["redis", "smtp", "http"]
Mode = FaultMode | Literal["503"]  # "503": the HTTP endpoint answers 503; else the proxy's mode
Results = list[tuple[float, float]]  # (fault to detection, return to healed) per run, seconds
Case = Callable[[], Awaitable[Results]]


@dataclass(frozen=True)
class FaultTarget:
    """A service behind the fault proxy: where to reach it, and how to fault and restore it."""

    url: str
    port: int
    fault: Callable[[], None]
    back: Callable[[], None]


@contextmanager
def fault_target(kind: Kind, mode: Mode) -> Iterator[FaultTarget]:
    """Starts a ``kind`` server behind a fault proxy whose ``fault`` applies ``mode``; stops
    both on leaving."""
    with ExitStack() as stack:
        endpoint: HealthEndpoint | None = None
        if kind == "redis":
            server_port = stack.enter_context(start_redis_server()).port
        elif kind == "smtp":
            server_port = stack.enter_context(start_smtp_server()).port
        else:
            endpoint = stack.enter_context(HealthEndpoint())
            server_port = endpoint.port
        proxy = stack.enter_context(FaultProxy(server_port))

        def fault() -> None:
            if mode == "503":
                assert endpoint is not None, "503 is an HTTP fault"
                endpoint.status = 503
            else:
                proxy.set_mode(mode)

        def back() -> None:
            if endpoint is not None:
                endpoint.status = 200
            proxy.set_mode("pass")

        url = {
            "redis": f"redis://127.0.0.1:{proxy.port}/0",
            "smtp": f"smtp://127.0.0.1:{proxy.port}",
            "http": f"http://127.0.0.1:{proxy.port}/health",
        }[kind]
        yield FaultTarget(url=url, port=proxy.port, fault=fault, back=back)


def fault_cases(
    sigkill: Case,
    behind_proxy: Callable[[Kind, Mode], Awaitable[Results]],
    modes: dict[Kind, tuple[Mode, ...]],
) -> list[tuple[str, Case]]:
    """Redis SIGKILLed and restarted, then each kind's modes behind the proxy, in order."""
    proxied: list[tuple[str, Case]] = [
        (f"{kind} {mode}", partial(behind_proxy, kind, mode))
        for kind, kind_modes in modes.items()
        for mode in kind_modes
    ]
    return [("redis sigkill+restart", sigkill), *proxied]


@dataclass(frozen=True)
class Figures:
    """How a column of seconds prints: in ``unit`` ("s" or "ms"), formatted with ``spec``."""

    spec: str
    unit: Literal["s", "ms"]

    def span(self, seconds: list[float]) -> str:
        scale = 1000 if self.unit == "ms" else 1
        median, most = statistics.median(seconds) * scale, max(seconds) * scale
        return f"median {median:{self.spec}} {self.unit} max {most:{self.spec}} {self.unit}"


@dataclass(frozen=True)
class Table:
    """One row a case: median and max of detection and healing, and whether every run met
    the targets (detected within ``detect_limit`` s, healed within ``healed_limit`` s)."""

    detect_word: str
    detected: Figures
    healed: Figures
    detect_limit: float
    healed_limit: float = HEALED_TARGET

    def row(self, label: str, results: Results) -> str:
        detected = [d for d, _ in results]
        healed = [h for _, h in results]
        ok = max(detected) <= self.detect_limit and max(healed) <= self.healed_limit
        return (
            f"{label:<22} {self.detect_word} {self.detected.span(detected)} "
            f"| healed {self.healed.span(healed)} | {'meets' if ok else 'MISSES'} targets"
        )

    async def run(self, cases: list[tuple[str, Case]]) -> None:
        """Runs the cases one after another, printing each row as it completes."""
        for label, case in cases:
            print(self.row(label, await case()), flush=True)
