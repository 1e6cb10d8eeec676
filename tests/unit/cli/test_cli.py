"""The ``outlast`` console script, run as a real subprocess."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from outlast.cli import _parser

OUTLAST = Path(sys.executable).with_name("outlast")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``outlast`` console script with ``env`` added to this environment.

    It runs in a process group of its own: should a worker start where none may, the
    group (pool children included) is killed after the timeout and the test fails.
    """
    argv = [str(OUTLAST), *args]
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    """The one line the script prints on stderr when it refuses to start (status 2)."""
    result = run(*args, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr


def test_version_prints_the_installed_version() -> None:
    """--version prints the distribution's version."""
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == version("outlast")


def test_profile_shows_the_resolved_breaker_profile() -> None:
    """`outlast profile breaker redis` prints the seed row with an env override applied."""
    result = run(
        "profile",
        "breaker",
        "redis",
        env={"OUTLAST_CIRCUIT_BREAKERS__REDIS__RECOVERY_TIMEOUT": "12"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["failure_threshold"], shown["recovery_timeout"]) == (3, 12.0)
    assert shown["profile"] == "balanced"


def test_no_command_is_a_usage_error() -> None:
    """Without a command the script prints usage and exits 2."""
    result = run()
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_worker_refuses_a_malformed_redis_url() -> None:
    """`outlast worker` with OUTLAST_REDIS_URL=notaurl exits 2 naming it, no worker starts."""
    stderr = refused("worker", env={"OUTLAST_REDIS_URL": "notaurl"})
    assert stderr.startswith(
        "outlast worker: invalid setting: OUTLAST_REDIS_URL holds 'notaurl'; it is not a URL; "
        "expected a Redis URL (redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://)"
    )
    assert stderr.count("\n") == 1


def test_worker_names_every_bad_setting_of_its_queues() -> None:
    """Core and SMTP problems of a worker consuming `emails` come in one message."""
    env = {"OUTLAST_BROKER_URL": "notaurl", "OUTLAST_SMTP_PORT": "99999"}
    stderr = refused("worker", "-Q", "emails", env=env)
    assert stderr.splitlines() == [
        "outlast worker: invalid settings:",
        "  OUTLAST_BROKER_URL holds 'notaurl'; it is not a URL; expected a broker URL "
        "(redis://, rediss://, redis+socket://, amqp://, amqps:// or pyamqp://; several joined "
        "by ';' for failover), e.g. amqp://guest:guest@127.0.0.1:5672//",
        "  OUTLAST_SMTP_PORT holds '99999'; expected a whole number from 1 to 65535",
    ]


def test_beat_refuses_bad_settings() -> None:
    """`outlast beat` checks the settings before it starts."""
    stderr = refused("beat", env={"OUTLAST_BROKER_VISIBILITY_TIMEOUT": "abc"})
    assert stderr == (
        "outlast beat: invalid setting: OUTLAST_BROKER_VISIBILITY_TIMEOUT holds 'abc'; "
        "expected a whole number from 10 to 3600\n"
    )


def test_worker_refuses_task_modules_it_cannot_import() -> None:
    """A module of OUTLAST_TASK_MODULES (comma list) that does not exist stops the worker."""
    stderr = refused("worker", env={"OUTLAST_TASK_MODULES": "json,nosuch_pkg.ops"})
    assert stderr == (
        "outlast worker: OUTLAST_TASK_MODULES names 'nosuch_pkg.ops', which cannot be "
        "imported; expected modules on the worker's Python path\n"
    )


def test_bad_smtp_setting_does_not_break_other_commands() -> None:
    """OUTLAST_SMTP_PORT=99999 leaves `outlast profile` working: it sends no email."""
    result = run("profile", "breaker", "redis", env={"OUTLAST_SMTP_PORT": "99999"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failure_threshold"] == 3


def test_unknown_queue_is_refused_with_the_declared_ones() -> None:
    """`-Q paymnets` is refused in one line listing the declared queues and the near miss."""
    stderr = refused("worker", "-Q", "monitoring,paymnets")
    assert stderr == (
        "outlast worker: unknown queue 'paymnets' in -Q; the declared queues are payments, "
        "emails, operations, recovery, monitoring; did you mean 'payments'?\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-P", "gevent"],
            "argument -P/--pool: pool 'gevent' needs the gevent package, which is not "
            "installed; use one of prefork, threads, solo",
        ),
        (["-P", "fibers"], "argument -P/--pool: unknown pool 'fibers'; use one of prefork"),
        (["-c", "0"], "argument -c/--concurrency: '0' is not a whole number of at least 1"),
        (["--autoscale", "4"], "argument --autoscale: '4' is not MAX,MIN"),
        (["-l", "loud"], "argument -l/--loglevel: 'loud' is not one of DEBUG, INFO"),
    ],
)
def test_bad_worker_arguments_are_one_line(args: list[str], message: str) -> None:
    """An uninstalled or unknown pool, or a bad number or level, is refused in one line."""
    stderr = refused("worker", *args)
    assert stderr.startswith(f"outlast worker: {message}")
    assert stderr.endswith(" (see outlast worker --help)\n")
    assert stderr.count("\n") == 1


@pytest.mark.parametrize("command", [[], ["profile"], ["worker"], ["beat"]])
def test_help_is_plain_text(command: list[str]) -> None:
    """--help of the script and each command has no reStructuredText markup."""
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "``" not in result.stdout
    assert ":func:" not in result.stdout


def test_every_option_and_command_has_help() -> None:
    """Each option, argument and command of the parser carries help text."""
    missing = []
    parsers: list[tuple[str, argparse.ArgumentParser]] = [("outlast", _parser())]
    while parsers:
        name, parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += [(f"{name} {cmd}", sub) for cmd, sub in action.choices.items()]
                listed = {sub.dest: sub.help for sub in action._get_subactions()}
                missing += [f"{name} {cmd}" for cmd, text in listed.items() if not text]
            elif not action.help:
                missing.append(f"{name} {action.dest}")
    assert missing == []
