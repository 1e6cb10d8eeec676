"""Flower's settings: where it listens, its login, and the refusals of ``outlast flower``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from outlast.config import FlowerSettings
from outlast.config._flower import flower_problems, is_loopback

OUTLAST = Path(sys.executable).with_name("outlast")


def _refusal(env: dict[str, str]) -> str:
    """The one line ``outlast flower`` prints when it refuses to start (status 2)."""
    done = subprocess.run(
        [str(OUTLAST), "flower"], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_defaults_listen_on_loopback_without_a_login() -> None:
    """With nothing set, Flower is at http://127.0.0.1:5555/ with no login, and that is fine."""
    settings = FlowerSettings()
    assert settings.url == "http://127.0.0.1:5555/"
    assert settings.basic_auth is None
    assert flower_problems(settings) == []


def test_a_login_is_user_colon_password_even_when_the_password_holds_colons() -> None:
    """The login Flower compares is 'user:password', whatever the password holds."""
    settings = FlowerSettings(flower_user="ops", flower_password="a:b,c")
    assert settings.basic_auth == "ops:a:b,c"
    assert flower_problems(settings) == []


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("flower.example", False)],
)  # fmt: skip
def test_loopback_addresses(address: str, loopback: bool) -> None:
    """Only addresses of this machine count as loopback."""
    assert is_loopback(address) is loopback


def test_flower_refuses_to_serve_other_hosts_without_a_login() -> None:
    """Bound to 0.0.0.0 with no login, outlast flower names the address and the fix."""
    stderr = _refusal({"OUTLAST_FLOWER_ADDRESS": "0.0.0.0"})
    assert "OUTLAST_FLOWER_ADDRESS holds '0.0.0.0' and no login is set" in stderr
    assert "OUTLAST_FLOWER_PASSWORD" in stderr


def test_flower_refuses_a_user_without_a_password() -> None:
    """Half a login is refused, naming the missing variable."""
    stderr = _refusal({"OUTLAST_FLOWER_USER": "ops"})
    assert "OUTLAST_FLOWER_PASSWORD is not set but OUTLAST_FLOWER_USER is" in stderr


def test_flower_refuses_a_user_name_with_a_colon_and_hides_the_password() -> None:
    """A user name holding ':' cannot be told apart in basic auth; the password never shows."""
    stderr = _refusal({"OUTLAST_FLOWER_USER": "a:b", "OUTLAST_FLOWER_PASSWORD": "s3cret-pw"})
    assert "OUTLAST_FLOWER_USER holds 'a:b'" in stderr
    assert "s3cret-pw" not in stderr


def test_flower_refuses_a_port_out_of_range() -> None:
    """A bad port is named like any other bad setting."""
    assert "OUTLAST_FLOWER_PORT" in _refusal({"OUTLAST_FLOWER_PORT": "70000"})


def test_dev_refuses_what_flower_refuses() -> None:
    """outlast dev checks Flower's settings before it starts anything."""
    done = subprocess.run(
        [str(OUTLAST), "dev"], capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "OUTLAST_FLOWER_PASSWORD": "x"},
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "OUTLAST_FLOWER_USER is not set but OUTLAST_FLOWER_PASSWORD is" in done.stderr
    assert done.stdout == ""
