"""Settings from the environment (prefix ``OUTLAST_``) and an optional TOML file.

Profile overrides merge over the seed tables field by field, so
``OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD=7`` changes one number and keeps
the rest of the ``database`` profile. ``OUTLAST_CONFIG_FILE`` names a TOML file whose
values sit below the environment's.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from outlast.config._policies import BreakerProfile, RetryStrategy, WindowType

__all__ = [
    "BreakerOverride",
    "BulkheadOverride",
    "RetryOverride",
    "Settings",
    "get_settings",
    "reload_settings",
]


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerOverride(_Override):
    """Fields of a breaker profile that settings may change."""

    failure_threshold: int | None = None
    recovery_timeout: float | None = None
    half_open_max_calls: int | None = None
    failure_rate_threshold: float | None = None
    slow_call_rate_threshold: float | None = None
    slow_call_duration: float | None = None
    window_type: WindowType | None = None
    window_size: int | None = None
    minimum_calls: int | None = None
    profile: BreakerProfile | None = None


class BulkheadOverride(_Override):
    """Fields of a bulkhead profile that settings may change."""

    capacity: int | None = None
    timeout: float | None = None


class RetryOverride(_Override):
    """Fields of a retry profile that settings may change (exception lists stay in code)."""

    max_attempts: int | None = None
    initial_delay: float | None = None
    backoff_factor: float | None = None
    max_delay: float | None = None
    strategy: RetryStrategy | None = None
    jitter: bool | None = None
    attempt_timeout: float | None = None
    deadline: float | None = None


class Settings(BaseSettings):
    """Everything Outlast reads from its environment.

    ``redis_url`` set means breakers and bulkheads share their state through that Redis
    (``state_scope`` "cluster") unless ``state_scope`` says "local". Cluster state writes
    outcomes behind every ``state_flush_interval`` seconds and re-reads its view every
    ``state_sync_interval``; ``redis_down_policy`` decides what a breaker does while Redis
    does not answer; a cluster bulkhead permit is a lease of ``bulkhead_lease`` seconds,
    renewed while its call runs.

    Workers: ``broker_url`` (else ``redis_url``, else the local Redis) carries tasks and
    ``result_backend`` (else the broker) their results. ``broker_visibility_timeout`` is how
    long Redis waits before handing an unacknowledged message to another worker; retries
    longer than ``retry_park_threshold`` never ride on the broker but wait in the store.
    An idempotent operation's claim is a lease of ``idempotency_claim_lease`` seconds,
    renewed while its attempt runs: a dead worker's work is taken over after about that.
    ``task_modules`` (a JSON list) names the application's modules of ``@operation``s, which
    every worker imports. Of several beat processes only the one holding a leader lease of
    ``beat_lease_ttl`` seconds in Redis sends the schedule; another takes over within about
    that time after it dies.

    Built-in work: payments POST to ``payment_gateway_url``; emails go through the SMTP
    relay at ``smtp_host``:``smtp_port`` (``smtp_starttls`` or ``smtp_tls``, and a login
    when ``smtp_username`` is set).
    """

    model_config = SettingsConfigDict(
        env_prefix="OUTLAST_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    redis_url: str | None = None
    broker_url: str | None = None
    mongodb_url: str | None = None
    namespace: str = "default"
    state_scope: Literal["cluster", "local"] | None = None
    state_flush_interval: float = Field(default=0.05, gt=0)
    state_sync_interval: float = Field(default=1.0, gt=0)
    redis_down_policy: Literal["local", "fail_open", "fail_closed"] = "local"
    bulkhead_lease: float = Field(default=30.0, gt=0)
    result_backend: str | None = None
    broker_visibility_timeout: int = Field(default=300, ge=10, le=3600)
    task_time_limit: float | None = Field(default=600.0, gt=0)
    task_soft_time_limit: float | None = Field(default=540.0, gt=0)
    worker_soft_shutdown_timeout: float = Field(default=10.0, ge=0)
    retry_park_threshold: float = Field(default=60.0, gt=0)
    idempotency_claim_lease: float = Field(default=30.0, gt=0)
    task_modules: list[str] = []
    retry_release_interval: float = Field(default=5.0, gt=0)
    beat_lease_ttl: float = Field(default=10.0, ge=1.0)
    payment_gateway_url: str | None = None
    payment_timeout: float = Field(default=30.0, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_from: str = "outlast@localhost"
    smtp_timeout: float = Field(default=30.0, gt=0)
    circuit_breakers: dict[str, BreakerOverride] = {}
    bulkheads: dict[str, BulkheadOverride] = {}
    retries: dict[str, RetryOverride] = {}
    timeouts: dict[str, float] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("OUTLAST_CONFIG_FILE")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def overrides_of(model: _Override) -> dict[str, Any]:
    """The fields a settings override actually sets."""
    return dict(model.model_dump(exclude_none=True).items())


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def reload_settings() -> Settings:
    """Read the settings again (after the environment or the file changed)."""
    get_settings.cache_clear()
    return get_settings()
