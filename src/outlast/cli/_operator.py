"""The operators' commands (``status``, ``alerts``, ``breaker``, ``recover``): registered on
the ``outlast`` parser together, and run so that any failure is one line on stderr.

A missing thing or a service that does not answer exits 1; a bad request exits 2; nothing
ever shows a traceback (an unforeseen error is one line naming its type). Library logging
is kept off the terminal (a Redis outage would otherwise print its own warning beside the
command's line).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from outlast.cli._alerts import add_alerts_parser, run_alerts
from outlast.cli._breakers import add_breaker_parser, run_breaker
from outlast.cli._console import UNAVAILABLE, CommandError, redis_url, write_err
from outlast.cli._recover import add_recover_parser, run_recover
from outlast.cli._status import add_status_parser, run_status
from outlast.errors import StoreUnavailableError
from outlast.resilience.shared._redis_link import REDIS_ERRORS
from outlast.store._errors import redact_url

__all__ = ["OPERATOR_COMMANDS", "add_operator_parsers", "run_operator"]

_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": run_status,
    "alerts": run_alerts,
    "breaker": run_breaker,
    "recover": run_recover,
}
OPERATOR_COMMANDS = frozenset(_RUNNERS)


def add_operator_parsers(commands: Any) -> None:
    """Register every operator command on the CLI's subcommands."""
    for add in (add_status_parser, add_alerts_parser, add_breaker_parser, add_recover_parser):
        add(commands)


def run_operator(args: argparse.Namespace) -> int:
    """Run ``args.command``; its exit status (any failure printed as one line)."""
    logging.getLogger().addHandler(logging.NullHandler())
    prog = " ".join(filter(None, ("outlast", args.command, getattr(args, "verb", None))))
    try:
        return _RUNNERS[args.command](args)
    except CommandError as error:
        write_err(f"{prog}: {error}")
        return error.code
    except StoreUnavailableError as error:
        write_err(f"{prog}: the store does not answer: {error}")
    except REDIS_ERRORS as error:
        write_err(f"{prog}: Redis at {redact_url(redis_url())} does not answer ({_brief(error)})")
    except KeyboardInterrupt:
        write_err(f"{prog}: interrupted")
        return 130
    except Exception as error:  # the last guard: an operator gets one line, not a traceback
        write_err(f"{prog}: failed: {_brief(error)}")
    return UNAVAILABLE


def _brief(error: BaseException) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
