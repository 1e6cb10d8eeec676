"""Services and restart hooks from settings (``OUTLAST_RECOVERY_*``) into a registry.

Each configured service becomes a built-in one of its kind: Redis (PING; heal = rebuild the
pool), MongoDB (ping; heal = recreate the client), SMTP (connect, EHLO, NOOP) and HTTP (GET,
expected status). Hooks come only from ``recovery_restart_hooks`` (the allow-list), never
from anything a probe or an error says. Configuring twice keeps the services already there
(and so their shared clients): a worker process configures once, on first use.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from outlast.config import RecoverySettings, get_recovery_settings, get_settings
from outlast.config._recovery import RecoveryHookSettings, RecoveryServiceSettings
from outlast.recovery._default import services
from outlast.recovery._mongo_service import managed_mongo, mongo_service
from outlast.recovery._network_probes import http_probe, smtp_probe
from outlast.recovery._redis_service import managed_redis, redis_service
from outlast.recovery._registry import ServiceRegistry
from outlast.recovery._restart_hooks import ArgvRestart, RestartHook, WebhookRestart
from outlast.recovery._restart_limit import RestartLimit
from outlast.recovery._service import Service
from outlast.recovery._sweep_memory import SweepMemory
from outlast.resilience.shared._redis_link import link_for
from outlast.store import DEFAULT_REDIS_URL

__all__ = [
    "configure_services",
    "configured_services",
    "restart_hook",
    "restart_limit_of",
    "shared_sweep_memory",
]

_lock = threading.Lock()


def configure_services(registry: ServiceRegistry, settings: RecoverySettings) -> list[str]:
    """Allow-list the configured hooks and register every configured service ``registry``
    does not hold yet; the names registered now."""
    hooks = {name: restart_hook(hook) for name, hook in settings.recovery_restart_hooks.items()}
    limit = restart_limit_of(settings)
    added = []
    with _lock:
        for hook in hooks.values():
            if hook not in registry.allowed_hooks():
                registry.allow_restart_hook(hook)
        for configured in settings.recovery_services:
            if registry.get(configured.name) is not None:
                continue
            chosen = hooks[configured.restart] if configured.restart else None
            registry.register(service_of(configured, chosen, limit))
            added.append(configured.name)
    return added


def configured_services() -> ServiceRegistry:
    """The process's ``services``, holding every service the settings configure (added on
    first use; a forked worker child shares none of its parent's clients: they connect on
    first use)."""
    configure_services(services, get_recovery_settings())
    return services


def shared_sweep_memory() -> SweepMemory:
    """The sweep memory every process of this namespace shares (the settings' Redis)."""
    settings = get_settings()
    return SweepMemory(link_for(settings.redis_url or DEFAULT_REDIS_URL, settings.namespace))


def restart_hook(hook: RecoveryHookSettings) -> RestartHook:
    """The argv or webhook restart hook a settings entry describes."""
    if hook.argv is not None:
        return ArgvRestart(argv=tuple(hook.argv), wait=hook.wait, timeout=hook.timeout)
    assert hook.webhook is not None  # the settings allow exactly one of the two
    return WebhookRestart(url=hook.webhook, timeout=hook.timeout)


def restart_limit_of(settings: RecoverySettings) -> RestartLimit:
    """The restart limit the settings give every configured service."""
    return RestartLimit(
        burst=settings.recovery_restart_burst,
        window=settings.recovery_restart_window,
        initial_delay=settings.recovery_restart_delay,
        max_delay=settings.recovery_restart_max_delay,
        reset_after=settings.recovery_restart_reset_after,
    )


def service_of(
    configured: RecoveryServiceSettings, hook: RestartHook | None, limit: RestartLimit
) -> Service:
    """The built-in service of ``configured.kind`` for ``configured.url``."""
    name, url, timeout = configured.name, configured.url, configured.probe_timeout
    if configured.kind == "redis":
        managed = managed_redis(url, timeout=timeout)
        return redis_service(
            name, managed, restart=hook, probe_timeout=timeout, restart_limit=limit
        )
    if configured.kind == "mongodb":
        managed = managed_mongo(url, timeout=timeout)
        return mongo_service(
            name, managed, restart=hook, probe_timeout=timeout, restart_limit=limit
        )
    if configured.kind == "smtp":
        parts = urlsplit(url if "://" in url else f"smtp://{url}")
        probe = smtp_probe(parts.hostname or "127.0.0.1", parts.port or 25, timeout=timeout)
    else:
        probe = http_probe(url, expected_status=configured.expected_status, timeout=timeout)
    return Service(name=name, probe=probe, restart=hook, probe_timeout=timeout, restart_limit=limit)
