"""Services and restart hooks from OUTLAST_RECOVERY_* settings: each kind gets its
built-in probe and healer, hooks come only from the allow-list, and configuring twice
keeps the shared clients."""

from __future__ import annotations

import pytest

from outlast.config import RecoverySettings
from outlast.config._loading import load
from outlast.errors import SettingsError
from outlast.recovery import ArgvRestart, ServiceRegistry, WebhookRestart
from outlast.recovery._configured import configure_services


def settings() -> RecoverySettings:
    return RecoverySettings.model_validate(
        {
            "recovery_services": [
                {"name": "cache", "kind": "redis", "url": "redis://127.0.0.1:1/0", "restart": "r"},
                {"name": "db", "kind": "mongodb", "url": "mongodb://127.0.0.1:1"},
                {"name": "mail", "kind": "smtp", "url": "smtp://127.0.0.1:2525", "restart": "w"},
                {"name": "api", "kind": "http", "url": "http://127.0.0.1:1/health"},
            ],
            "recovery_restart_hooks": {
                "r": {"argv": ["systemctl", "restart", "redis"]},
                "w": {"webhook": "http://127.0.0.1:1/restart"},
            },
            "recovery_restart_burst": 2,
        }
    )


def test_every_kind_becomes_a_service_with_its_allow_listed_hook() -> None:
    """Four kinds registered; Redis and MongoDB carry a shared client; hooks as listed."""
    registry = ServiceRegistry()
    assert configure_services(registry, settings()) == ["cache", "db", "mail", "api"]
    assert registry.client_services() == ["cache", "db"]
    cache, mail = registry.get("cache"), registry.get("mail")
    assert cache is not None
    assert mail is not None
    assert cache.restart == ArgvRestart(argv=("systemctl", "restart", "redis"))
    assert isinstance(mail.restart, WebhookRestart)
    assert cache.restart_limit.burst == 2


def test_configuring_again_keeps_the_services_and_their_clients() -> None:
    """A second configuration adds nothing and keeps the first shared client."""
    registry = ServiceRegistry()
    configure_services(registry, settings())
    first = registry.get("cache")
    assert configure_services(registry, settings()) == []
    assert registry.get("cache") is first


def test_a_service_naming_an_unlisted_hook_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart hook that is not in OUTLAST_RECOVERY_RESTART_HOOKS is refused when read."""
    monkeypatch.setenv(
        "OUTLAST_RECOVERY_SERVICES",
        '[{"name": "cache", "kind": "redis", "url": "redis://x", "restart": "nope"}]',
    )
    with pytest.raises(SettingsError):
        load(RecoverySettings)


def test_a_hook_is_argv_or_webhook_never_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook giving both (or neither) is a settings error."""
    monkeypatch.setenv(
        "OUTLAST_RECOVERY_RESTART_HOOKS", '{"h": {"argv": ["x"], "webhook": "http://a/b"}}'
    )
    with pytest.raises(SettingsError):
        load(RecoverySettings)
