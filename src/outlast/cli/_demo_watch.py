"""What the demo sees while it runs: a snapshot of the system, and what changed since the last.

:class:`Watch` reads, each time it is asked, the gateway's ledger and the mail sink (in
this process), the ``payments_gateway`` breaker as the cluster shares it, the length of
each queue in Redis and the dead letters in the store. Apart from ``replay`` (which the
story asks for, as a user would), it only reads: it never enqueues, retries or changes
the state of the system it watches. It imports the worker system (``dead_letters``) only
when it first looks: that configures the process's Celery app from the settings, which the
demo sets first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from outlast import get_circuit_breaker
from outlast.cli._demo_gateway import DemoGateway, GatewayRequest
from outlast.cli._demo_smtp import DemoSmtp
from outlast.resilience import reset_circuit_breakers
from outlast.store import DeadLetter

__all__ = ["Snapshot", "Watch"]


@dataclass(frozen=True)
class Snapshot:
    """The system at one moment, as the live view and the summary show it."""

    elapsed: float
    phase: str
    gateway_mode: str
    breaker: str
    waiting: dict[str, int]
    payments_queued: int
    charged: int
    repeats: int
    gateway_failures: int
    requests_while_down: int
    breaker_opened: int
    emails_queued: int
    delivered: int
    dead_letters: tuple[DeadLetter, ...] = field(default=())

    @property
    def replayed(self) -> int:
        """Dead letters replayed at least once."""
        return sum(1 for letter in self.dead_letters if letter.replay_count)


@dataclass
class _Tally:
    """What the watch carries from one look to the next."""

    requests_seen: int = 0
    breaker: str = "closed"
    breaker_opened: int = 0
    delivered_seen: int = 0
    letters_seen: set[str] = field(default_factory=set)


def _told(request: GatewayRequest, requests: list[GatewayRequest]) -> str:
    """One gateway request as news: a retry says how long after the previous try it came."""
    earlier = [r for r in requests if r.key == request.key and r.at < request.at]
    wait = f", {request.at - earlier[-1].at:.1f}s after try {len(earlier)}" if earlier else ""
    if request.status >= 500:
        return f"gateway answered {request.status} to {request.key}{wait}: will be retried"
    if request.charged:
        return f"gateway charged {request.key}{wait}"
    return f"gateway: {request.key} again{wait}; its charge is returned, not repeated"


class Watch:
    """Looks at the running system; ``look()`` returns a snapshot and the news since the
    previous look, as lines for the terminal."""

    def __init__(
        self,
        *,
        gateway: DemoGateway,
        smtp: DemoSmtp,
        redis_url: str,
        key_prefix: str,
        queues: Sequence[str],
    ) -> None:
        self.gateway, self.smtp = gateway, smtp
        self.phase = "starting"
        self.payments_queued = self.emails_queued = 0
        self._redis = redis.Redis.from_url(redis_url)
        self._queue_keys = {queue: f"{key_prefix}{queue}" for queue in queues}
        self._loop = asyncio.new_event_loop()
        self._breaker = get_circuit_breaker("payments_gateway")
        self._started = time.monotonic()
        self._tally = _Tally()

    def look(self) -> tuple[Snapshot, list[str]]:
        """The system now, and what happened since the last look."""
        news = self._gateway_news() + self._breaker_news()
        from outlast import dead_letters

        letters = tuple(self._loop.run_until_complete(dead_letters.list()))
        news += self._letter_news(letters) + self._mail_news()
        return self._snapshot(letters), news

    def _snapshot(self, letters: tuple[DeadLetter, ...]) -> Snapshot:
        requests = self.gateway.requests()
        accepted = self.gateway.accepted_per_key()
        return Snapshot(
            elapsed=time.monotonic() - self._started,
            phase=self.phase,
            gateway_mode=self.gateway.mode,
            breaker=self._tally.breaker,
            waiting={queue: int(self._redis.llen(key)) for queue, key in self._queue_keys.items()},
            payments_queued=self.payments_queued,
            charged=sum(1 for r in requests if r.charged),
            repeats=sum(count - 1 for count in accepted.values()),
            gateway_failures=sum(1 for r in requests if r.status >= 500),
            requests_while_down=sum(1 for r in requests if r.mode == "down"),
            breaker_opened=self._tally.breaker_opened,
            emails_queued=self.emails_queued,
            delivered=len(self.smtp.delivered()),
            dead_letters=letters,
        )

    def _gateway_news(self) -> list[str]:
        requests = self.gateway.requests()
        fresh, self._tally.requests_seen = requests[self._tally.requests_seen :], len(requests)
        return [_told(request, requests) for request in fresh]

    def _breaker_news(self) -> list[str]:
        state = self._breaker.state.value
        before, self._tally.breaker = self._tally.breaker, state
        if state == before:
            return []
        if state == "open":
            # Counted from closed only: a failed half-open probe reopens it within one trip.
            self._tally.breaker_opened += before == "closed"
            return [
                f"breaker payments_gateway {before} -> OPEN: charges deferred, no attempt spent"
            ]
        return [f"breaker payments_gateway {before} -> {state}"]

    def _letter_news(self, letters: tuple[DeadLetter, ...]) -> list[str]:
        news = []
        for letter in letters:
            if letter.id not in self._tally.letters_seen:
                self._tally.letters_seen.add(letter.id)
                news.append(
                    f"dead letter {letter.id[:12]}: {letter.task_name} ({letter.reason}): "
                    f"{letter.error_message[:160]}"
                )
        return news

    def _mail_news(self) -> list[str]:
        delivered = self.smtp.delivered()
        fresh, self._tally.delivered_seen = delivered[self._tally.delivered_seen :], len(delivered)
        return [f"mail sink received an email for {address}" for address in fresh]

    def replay(self, letter_id: str) -> str:
        """Replay one dead letter (the demo's one write, made on the user's behalf)."""
        from outlast import dead_letters

        return self._loop.run_until_complete(dead_letters.replay(letter_id))

    def close(self) -> None:
        """Stop the breaker's sync thread (before the Redis it reads may be stopped), and
        close the Redis connection and the private event loop."""
        reset_circuit_breakers()
        self._redis.close()
        self._loop.close()
