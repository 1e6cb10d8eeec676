"""The demo's story, step by step, and the loop that plays it while the view shows it.

1. A flaky gateway: payments whose first charges get 503 are retried with backoff.
2. The gateway goes down: the breaker opens and the charges wait, spending no attempt.
3. It comes back: every payment is charged, each exactly once.
4. An email to a mailbox that does not exist is refused for good (a dead letter); the
   mailbox is made, the letter replayed, and the email delivered.

Every duration is a base figure divided by the pace's ``speed``. A step that does not
finish within the step timeout ends the demo with the reason; nothing is waited for
forever. The story enqueues through the public API (``payment_queue``, ``email_queue``,
``dead_letters.replay``), as an application would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from outlast.cli._demo_gateway import DemoGateway
from outlast.cli._demo_smtp import DemoSmtp
from outlast.cli._demo_view import View, status_line
from outlast.cli._demo_watch import Snapshot, Watch

__all__ = ["CLOSED_MAILBOX", "DemoFailedError", "Pace", "play", "story"]

CLOSED_MAILBOX = "nobody@closed.demo.test"
_OPEN_MAILBOX = "ada@demo.test"
_FLAKY = ("pay-02", "pay-04")
_FIRST, _DURING_OUTAGE = 5, 6
_POLL_SECONDS = 0.2
_PAUSE = 3.0  # seconds at speed 1 between steps, to read what happened


class DemoFailedError(Exception):
    """The demo could not tell its story (a step timed out, a process died, a stop)."""


@dataclass(frozen=True)
class Pace:
    """How fast the story goes: ``speed`` 1 takes about a minute; 4 about a quarter."""

    speed: float = 1.0
    step_timeout: float = 90.0

    def seconds(self, base: float) -> float:
        """``base`` seconds at this pace."""
        return base / self.speed

    def settings(self) -> dict[str, str]:
        """The retry and breaker settings (``OUTLAST_`` variables) that fit this pace."""
        retries, breaker = "OUTLAST_RETRIES__SBD_TRANSACTION__", "OUTLAST_CIRCUIT_BREAKERS__"
        return {
            f"{retries}MAX_ATTEMPTS": "6",
            f"{retries}INITIAL_DELAY": f"{self.seconds(2.0):.3f}",
            f"{retries}BACKOFF_FACTOR": "2",
            f"{retries}MAX_DELAY": f"{self.seconds(8.0):.3f}",
            f"{retries}JITTER": "false",
            f"{breaker}PAYMENTS_GATEWAY__FAILURE_THRESHOLD": "3",
            f"{breaker}PAYMENTS_GATEWAY__RECOVERY_TIMEOUT": f"{self.seconds(6.0):.3f}",
            "OUTLAST_RETRIES__EMAIL_SENDING__INITIAL_DELAY": f"{self.seconds(1.0):.3f}",
        }


@dataclass(frozen=True)
class Step:
    """One part of the story: what it does at its start, when it is done, and how long
    the story stays in it after that."""

    title: str
    start: Callable[[], None]
    done: Callable[[Snapshot], bool]
    hold: float = 0.0


def _pay(watch: Watch, numbers: range) -> None:
    from outlast.tasks import payment_queue

    for number in numbers:
        payment_queue.add(f"user-{number}", 500 + number, idempotency_key=f"pay-{number:02d}")
        watch.payments_queued += 1


def _mail(watch: Watch, address: str) -> None:
    from outlast.tasks import email_queue

    email_queue.add(to=address, subject="Your receipt", body="Thank you for your payment.")
    watch.emails_queued += 1


def _replay_first(watch: Watch, smtp: DemoSmtp, view: View) -> None:
    snapshot, _ = watch.look()
    smtp.open_mailbox(CLOSED_MAILBOX)
    letter = snapshot.dead_letters[0]
    task_id = watch.replay(letter.id)
    view.say(f"mailbox {CLOSED_MAILBOX} now exists: replayed {letter.id[:12]} as task "
             f"{task_id[:12]}", snapshot.elapsed)  # fmt: skip


def story(gateway: DemoGateway, smtp: DemoSmtp, watch: Watch, view: View, pace: Pace) -> list[Step]:
    """The steps, in order."""
    payments = _FIRST + _DURING_OUTAGE

    def flaky() -> None:
        gateway.set_mode("flaky", flaky_keys=_FLAKY, flaky_failures=2)
        _pay(watch, range(1, _FIRST + 1))

    def down() -> None:
        gateway.set_mode("down")
        _pay(watch, range(_FIRST + 1, payments + 1))

    def emails() -> None:
        _mail(watch, _OPEN_MAILBOX)
        _mail(watch, CLOSED_MAILBOX)

    return [
        Step(f"1/4 a flaky gateway: {', '.join(_FLAKY)} get 503 twice, then pass", flaky,
             lambda s: s.charged == _FIRST, hold=pace.seconds(_PAUSE)),
        Step("2/4 the gateway goes down", down, lambda s: s.breaker_opened > 0,
             hold=pace.seconds(20.0)),
        Step("3/4 the gateway is back", lambda: gateway.set_mode("up"),
             lambda s: s.charged == payments and s.breaker == "closed", hold=pace.seconds(_PAUSE)),
        Step(f"4/4 emails: one to {CLOSED_MAILBOX}, which is refused for good", emails,
             lambda s: len(s.dead_letters) == 1 and s.delivered == 1, hold=pace.seconds(_PAUSE)),
        Step("    replay of the dead letter", lambda: _replay_first(watch, smtp, view),
             lambda s: s.replayed == 1 and s.delivered == 2),
    ]  # fmt: skip


def play(
    steps: list[Step], watch: Watch, view: View, pace: Pace, trouble: Callable[[], str | None]
) -> Snapshot:
    """Play ``steps``, showing every look; the last snapshot. DemoFailedError when a step
    times out or ``trouble()`` names a problem (a dead child, a stop)."""
    snapshot = _show(watch, view)
    for step in steps:
        watch.phase = step.title.strip()
        view.say(f"== {watch.phase}", snapshot.elapsed)
        step.start()
        snapshot = _until(step, watch, view, pace, trouble)
        view.say(status_line(snapshot), snapshot.elapsed)
    return snapshot


def _until(
    step: Step, watch: Watch, view: View, pace: Pace, trouble: Callable[[], str | None]
) -> Snapshot:
    started, done_at = time.monotonic(), None
    while True:
        snapshot = _show(watch, view)
        now = time.monotonic()
        if done_at is None and step.done(snapshot):
            done_at = now
        if done_at is not None and now - done_at >= step.hold:
            return snapshot
        problem = trouble()
        if problem is None and now - started > pace.step_timeout:
            problem = f"step {step.title.strip()!r} not done after {pace.step_timeout:.0f}s"
        if problem is not None:
            raise DemoFailedError(problem)
        time.sleep(_POLL_SECONDS)


def _show(watch: Watch, view: View) -> Snapshot:
    snapshot, news = watch.look()
    for line in news:
        view.say(line, snapshot.elapsed)
    view.update(snapshot)
    return snapshot
