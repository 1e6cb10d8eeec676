"""The ``outlast`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m outlast.cli`` the way the console script does."""
    code = "import sys; from outlast.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


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
