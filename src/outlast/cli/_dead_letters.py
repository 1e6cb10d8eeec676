"""``outlast dead-letters list|show|replay|purge``: the dead-letter store, for operators.

``list`` and ``show`` print tables (``--json`` prints JSON for scripts); ``replay`` sends a
letter's work again under its idempotency key (one id, or every letter of ``--task`` /
``--all``, with progress on stderr); ``purge`` deletes letters of a task or older than a
time, or every letter with ``--all``. The store and broker are the settings'. Errors are
one line on stderr and status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from outlast.cli._console import table
from outlast.errors import ConfigurationError, OutlastError
from outlast.store import DeadLetter, Store, open_store

__all__ = ["add_dead_letters_parser", "run_dead_letters"]

FAILURE = 1
_PAGE = 500
_PROGRESS_EVERY = 1.0  # seconds between progress lines


def add_dead_letters_parser(commands: Any) -> None:
    """Register ``outlast dead-letters`` and its four verbs."""
    parser = commands.add_parser("dead-letters", help="list, show, replay or purge dead letters")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="dead letters, most recently failed first")
    listing.add_argument("--task", help="only letters of this task")
    listing.add_argument("--limit", type=_positive, default=50, help="at most N (default 50)")
    listing.add_argument("--offset", type=_not_negative, default=0, help="skip N first")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    show = verbs.add_parser("show", help="everything kept of one letter")
    show.add_argument("id", help="the letter's id (from list)")
    show.add_argument("--json", action="store_true", help="JSON instead of text")
    replay = verbs.add_parser("replay", help="send letters' work again under their keys")
    replay.add_argument("ids", nargs="*", metavar="ID", help="letters to replay")
    replay.add_argument("--task", help="every letter of this task")
    replay.add_argument("--all", action="store_true", help="every letter")
    replay.add_argument("--again", action="store_true", help="also letters replayed before")
    purge = verbs.add_parser("purge", help="delete letters (of a task, older than a time)")
    purge.add_argument("--task", help="only letters of this task")
    purge.add_argument("--before", type=_moment, help="failed at or before (ISO time or epoch)")
    purge.add_argument("--all", action="store_true", help="needed to purge without a filter")


def _positive(text: str) -> int:
    value = _not_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _moment(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time (2026-01-31T12:00:00Z) or epoch seconds, got {text!r}"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run_dead_letters(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the verb (printing to ``out``, else stdout); store and enqueue failures are one
    line on stderr and status 1."""
    verbs: dict[str, Callable[[Store, argparse.Namespace, TextIO], Any]] = {
        "list": _list, "show": _show, "replay": _replay, "purge": _purge,
    }  # fmt: skip
    try:
        return int(asyncio.run(_with_store(verbs[args.verb], args, out or sys.stdout)))
    except (OutlastError, OSError) as error:
        if isinstance(error, ConfigurationError):
            raise
        print(f"outlast dead-letters {args.verb}: {type(error).__name__}: {error}", file=sys.stderr)
        return FAILURE


async def _with_store(verb: Callable[..., Any], args: argparse.Namespace, out: TextIO) -> int:
    store = open_store()
    try:
        return int(await verb(store, args, out))
    finally:
        await store.close()


async def _list(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    letters = await store.list_dead_letters(
        task_name=args.task, limit=args.limit, offset=args.offset
    )
    if args.json:
        for letter in letters:
            print(json.dumps(letter.to_document()), file=out)
        return 0
    total = await store.count_dead_letters(task_name=args.task)
    rows = [
        (x.id, x.task_name, x.reason, x.attempts, _when(x.failed_at), x.replay_count,
         f"{x.error_type}: {x.error_message}")
        for x in letters
    ]  # fmt: skip
    headers = ("ID", "TASK", "REASON", "ATTEMPTS", "FAILED AT", "REPLAYS", "ERROR")
    print(table(headers, rows), file=out)
    print(f"{len(letters)} of {total} (offset {args.offset})", file=out)
    return 0


async def _show(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    letter = await store.get_dead_letter(args.id)
    if letter is None:
        print(f"outlast dead-letters show: no dead letter {args.id!r}", file=sys.stderr)
        return FAILURE
    document = letter.to_document()
    if args.json:
        print(json.dumps(document, indent=2), file=out)
        return 0
    for name, value in document.items():
        if name in ("failed_at", "first_attempt_at", "replayed_at"):
            value = _when(value)
        if name != "traceback":
            print(f"{name:>16}: {json.dumps(value) if isinstance(value, dict | list) else value}",
                  file=out)  # fmt: skip
    if letter.traceback:
        print(f"\n{letter.traceback.rstrip()}", file=out)
    return 0


async def _replay(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    if bool(args.ids) + bool(args.task) + bool(args.all) != 1:
        raise ConfigurationError("replay takes letter ids, or --task NAME, or --all (one of them)")
    _load_operations()
    from outlast import dead_letters

    chosen = args.ids or [x.id for x in await _every_letter(store, args.task, again=args.again)]
    progress = _Progress(len(chosen))
    failed = 0
    for letter_id in chosen:
        try:
            task_id = await dead_letters.replay(letter_id, store=store)
        except KeyError:
            print(f"outlast dead-letters replay: no dead letter {letter_id!r}", file=sys.stderr)
            failed += 1
            continue
        if args.ids:
            print(f"{letter_id} -> task {task_id}", file=out)
        progress.step()
    progress.done()
    print(f"replayed {len(chosen) - failed} of {len(chosen)}", file=out)
    return FAILURE if failed else 0


async def _every_letter(store: Store, task: str | None, *, again: bool) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    while True:
        page = await store.list_dead_letters(task_name=task, limit=_PAGE, offset=len(letters))
        letters += page
        if len(page) < _PAGE:
            break
    return [x for x in letters if again or x.replay_count == 0]


class _Progress:
    """``replayed N/M`` on stderr about once a second, for long replays."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self._shown = total, 0, time.monotonic()

    def step(self) -> None:
        self.count += 1
        if time.monotonic() - self._shown >= _PROGRESS_EVERY:
            self._shown = time.monotonic()
            print(f"replayed {self.count}/{self.total}", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.total > 1:
            print(f"replayed {self.count}/{self.total}", file=sys.stderr, flush=True)


async def _purge(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    if args.task is None and args.before is None and not args.all:
        raise ConfigurationError("purge needs --task, --before, or --all to delete every letter")
    purged = await store.purge_dead_letters(task_name=args.task, before=args.before)
    print(f"purged {purged}", file=out)
    return 0


def _load_operations() -> None:
    """Import the modules a worker imports, so every operation can be enqueued from here."""
    from outlast.config import get_settings
    from outlast.workers import TASK_MODULES

    for module in (*TASK_MODULES, *get_settings().task_modules):
        importlib.import_module(module)
