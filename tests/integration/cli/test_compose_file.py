"""docker-compose.yml, the Dockerfile and .env.example agree with the code: every Outlast
service runs a real ``outlast`` subcommand on declared queues, and every ``OUTLAST_`` name
they use is a setting. No Docker engine is needed: the files are read, not run."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

import outlast.config
from outlast.cli import _parser
from outlast.config._loading import SettingsBase
from outlast.config._settings import BreakerOverride, BulkheadOverride, RetryOverride
from outlast.workers import QUEUES

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"


def _settings_classes() -> tuple[type[BaseModel], ...]:
    """Every settings section of ``outlast.config`` (each module imported, every subclass of
    ``SettingsBase`` walked), so a new section is known here without a change."""
    for module in pkgutil.iter_modules(outlast.config.__path__, "outlast.config."):
        importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = list(SettingsBase.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("outlast."):  # not a test's own subclass
            found.append(cls)
    return tuple(found)


SETTINGS_CLASSES = _settings_classes()
PROFILE_FIELDS: dict[str, type[BaseModel]] = {
    "circuit_breakers": BreakerOverride,
    "bulkheads": BulkheadOverride,
    "retries": RetryOverride,
}
NAME = re.compile(r"\bOUTLAST_[A-Z0-9_]+")


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _outlast_services() -> dict[str, dict[str, Any]]:
    """The services that run the image of the Dockerfile (the others are Redis and MongoDB)."""
    return {name: s for name, s in _services().items() if "build" in s}


def _parsed(command: list[str]) -> argparse.Namespace:
    try:
        return _parser().parse_args(command)
    except SystemExit as exit_:
        raise AssertionError(f"outlast {' '.join(command)} is refused ({exit_.code})") from None


def _is_setting(name: str) -> bool:
    """Whether ``OUTLAST_<NAME>`` is a field of the settings (``A__B__C``: a profile field)."""
    field, _, rest = name.removeprefix("OUTLAST_").lower().partition("__")
    if not rest:
        return any(field in cls.model_fields for cls in SETTINGS_CLASSES)
    if field == "timeouts":
        return "__" not in rest
    profile = PROFILE_FIELDS.get(field)
    _, _, leaf = rest.partition("__")
    return profile is not None and leaf in profile.model_fields


def test_the_image_runs_the_outlast_command() -> None:
    """The Dockerfile's entry point is ``outlast``, so a service's command is its arguments."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    entry = [line for line in lines if line.startswith("ENTRYPOINT")]
    assert [json.loads(line.removeprefix("ENTRYPOINT")) for line in entry] == [["outlast"]]


def test_every_outlast_service_command_is_a_real_subcommand() -> None:
    """Each service built from the image runs a subcommand the CLI's own parser accepts."""
    services = _outlast_services()
    commands = {name: _parsed(service["command"]).command for name, service in services.items()}
    assert commands == {
        "payments-worker": "worker",
        "emails-worker": "worker",
        "recovery-worker": "worker",
        "beat": "beat",
        "flower": "flower",
        "api": "api",
    }


def test_the_workers_consume_declared_queues_the_payments_worker_alone() -> None:
    """Workers name only declared queues; payments, emails, recovery and monitoring are all
    consumed, and the payments queue has a worker of its own."""
    queues: dict[str, list[str]] = {}
    for name, service in _outlast_services().items():
        args = _parsed(service["command"])
        if args.command == "worker":
            queues[name] = args.queues.split(",")
    consumed = {queue for names in queues.values() for queue in names}
    assert consumed <= set(QUEUES)
    assert consumed == set(QUEUES) - {"operations"}  # the application's own workers run those
    assert queues["payments-worker"] == ["payments"]


@pytest.mark.parametrize("path", ["docker-compose.yml", ".env.example"])
def test_every_outlast_variable_is_a_setting(path: str) -> None:
    """Every OUTLAST_ name in the file (comments too) is a field of the settings."""
    names = set(NAME.findall((ROOT / path).read_text()))
    assert names, f"no OUTLAST_ variable found in {path}"
    assert sorted(name for name in names if not _is_setting(name)) == []


def test_the_name_check_refuses_a_name_that_is_no_setting() -> None:
    """The check above can fail: misspelt or made-up names are not settings."""
    assert not _is_setting("OUTLAST_REDIS_URI")
    assert not _is_setting("OUTLAST_RETRIES__SBD_TRANSACTION__ATTEMPTS")
    assert _is_setting("OUTLAST_RETRIES__SBD_TRANSACTION__MAX_ATTEMPTS")
    assert _is_setting("OUTLAST_FLOWER_PASSWORD")
    assert not _is_setting("OUTLAST_ADMIN_TOKEN")


def test_the_settings_sections_are_found_without_a_list() -> None:
    """The discovery finds the sections defined in their own modules, the API's among them."""
    names = {cls.__name__ for cls in SETTINGS_CLASSES}
    assert names >= {"Settings", "FlowerSettings", "ApiSettings", "MetricsSettings"}
    assert _is_setting("OUTLAST_ADMIN_TOKENS")
    assert _is_setting("OUTLAST_METRICS_DIR")


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    """No service runs without a healthcheck or comes back only by hand."""
    for name, service in _services().items():
        assert service.get("healthcheck", {}).get("test"), name
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, name


def test_redis_keeps_an_append_only_file_and_flower_asks_for_a_login() -> None:
    """Redis runs append-only; Flower listens beyond loopback with a login from .env."""
    services = _services()
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert services["flower"]["environment"]["OUTLAST_FLOWER_ADDRESS"] == "0.0.0.0"
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^OUTLAST_FLOWER_USER=\S", example, re.MULTILINE)
    assert re.search(r"^OUTLAST_FLOWER_PASSWORD=\S", example, re.MULTILINE)


def test_the_api_listens_beyond_loopback_with_tokens_from_env_and_a_live_probe() -> None:
    """The API service serves on every address of its container at the published port, takes
    both token lists from .env (which has example values for them), and its healthcheck
    asks /health/live."""
    api = _services()["api"]
    args = _parsed(api["command"])
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert "8000:8000" in api["ports"]
    assert api["environment"]["OUTLAST_ADMIN_TOKENS"] == "${OUTLAST_ADMIN_TOKENS:-}"
    assert api["environment"]["OUTLAST_READ_TOKENS"] == "${OUTLAST_READ_TOKENS:-}"
    assert "http://127.0.0.1:8000/health/live" in " ".join(api["healthcheck"]["test"])
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^OUTLAST_ADMIN_TOKENS=\w+=\S", example, re.MULTILINE)
    assert re.search(r"^OUTLAST_READ_TOKENS=\w+=\S", example, re.MULTILINE)
