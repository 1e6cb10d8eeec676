"""Configuration: the seed's tables are the defaults, settings override field by field,
unknown names get the default profile, and bad values are refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from outlast.config import (
    BreakerProfile,
    CircuitBreakerConfig,
    Jitter,
    RetryConfig,
    RetryStrategy,
    get_bulkhead_config,
    get_circuit_breaker_config,
    get_retry_config,
    get_timeout_config,
    reload_settings,
)
from outlast.errors import ConfigurationError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes for one test; the settings are re-read before and after."""
    yield monkeypatch
    monkeypatch.undo()
    reload_settings()


@pytest.mark.parametrize(
    ("name", "threshold", "recovery", "profile"),
    [
        ("database", 5, 60.0, BreakerProfile.CONSERVATIVE),
        ("redis", 3, 30.0, BreakerProfile.BALANCED),
        ("email", 10, 120.0, BreakerProfile.AGGRESSIVE),
        ("family_operations", 5, 45.0, BreakerProfile.BALANCED),
        ("sbd_operations", 3, 30.0, BreakerProfile.CONSERVATIVE),
    ],
)
def test_breaker_table(name: str, threshold: int, recovery: float, profile: BreakerProfile) -> None:
    """Each row of the seed's breaker table is the default for its name."""
    config = get_circuit_breaker_config(name)
    assert (config.failure_threshold, config.recovery_timeout) == (threshold, recovery)
    assert config.profile is profile
    assert config.half_open_max_calls == profile.half_open_max_calls


@pytest.mark.parametrize(
    ("name", "capacity", "timeout"),
    [
        ("database_connections", 20, 10.0),
        ("redis_connections", 15, 5.0),
        ("email_sending", 10, 30.0),
        ("family_creation", 5, 15.0),
        ("sbd_transactions", 8, 20.0),
    ],
)
def test_bulkhead_table(name: str, capacity: int, timeout: float) -> None:
    """Each row of the seed's bulkhead table is the default for its name."""
    config = get_bulkhead_config(name)
    assert (config.capacity, config.timeout) == (capacity, timeout)


@pytest.mark.parametrize(
    ("name", "attempts", "initial"),
    [
        ("database_query", 3, 1.0),
        ("redis_operation", 3, 0.5),
        ("email_sending", 5, 2.0),
        ("family_operation", 3, 1.0),
        ("sbd_transaction", 2, 1.0),
    ],
)
def test_retry_table(name: str, attempts: int, initial: float) -> None:
    """Each row of the seed's retry table is the default for its name, exponential."""
    config = get_retry_config(name)
    assert (config.max_attempts, config.initial_delay) == (attempts, initial)
    assert config.strategy is RetryStrategy.EXPONENTIAL_BACKOFF


def test_unknown_names_get_the_default_profiles() -> None:
    """A name outside the tables resolves to the documented defaults."""
    assert get_circuit_breaker_config("payments_gateway") == CircuitBreakerConfig()
    assert get_bulkhead_config("nope").capacity == 10
    assert get_retry_config("nope") == RetryConfig()
    assert get_timeout_config("nope") == 30.0


def test_environment_overrides_one_field_and_keeps_the_rest(env: pytest.MonkeyPatch) -> None:
    """OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD changes only that field."""
    env.setenv("OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD", "7")
    env.setenv("OUTLAST_RETRIES__NEW_OP__MAX_ATTEMPTS", "9")
    env.setenv("OUTLAST_TIMEOUTS__DATABASE_QUERY", "2.5")
    reload_settings()
    config = get_circuit_breaker_config("database")
    assert (config.failure_threshold, config.recovery_timeout) == (7, 60.0)
    assert get_retry_config("new_op").max_attempts == 9
    assert get_timeout_config("database_query") == 2.5


def test_profile_override_changes_half_open_calls(env: pytest.MonkeyPatch) -> None:
    """Switching a breaker's profile in settings switches its half-open probe count."""
    env.setenv("OUTLAST_CIRCUIT_BREAKERS__DATABASE__PROFILE", "aggressive")
    reload_settings()
    assert get_circuit_breaker_config("database").half_open_max_calls == 5


def test_toml_file_sits_below_the_environment(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """OUTLAST_CONFIG_FILE is read, and the environment wins where both set a value."""
    path = tmp_path / "outlast.toml"
    path.write_text(
        "[bulkheads.family_creation]\ncapacity = 2\n"
        "[circuit_breakers.redis]\nfailure_threshold = 8\n"
    )
    env.setenv("OUTLAST_CONFIG_FILE", str(path))
    env.setenv("OUTLAST_BULKHEADS__FAMILY_CREATION__CAPACITY", "4")
    reload_settings()
    assert get_bulkhead_config("family_creation").capacity == 4
    assert get_circuit_breaker_config("redis").failure_threshold == 8


def test_bad_override_names_the_field(env: pytest.MonkeyPatch) -> None:
    """An invalid override value fails with an error naming the field."""
    env.setenv("OUTLAST_BULKHEADS__FAMILY_CREATION__CAPACITY", "0")
    reload_settings()
    with pytest.raises(ConfigurationError, match="capacity"):
        get_bulkhead_config("family_creation")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"initial_delay": -1.0}, "initial_delay"),
        ({"backoff_factor": 0.5}, "backoff_factor"),
        ({"deadline": 0}, "deadline"),
        ({"retryable_exceptions": [int]}, "retryable_exceptions"),
    ],
)
def test_retry_config_refuses_bad_values(kwargs: dict[str, object], field: str) -> None:
    """RetryConfig names the offending field."""
    with pytest.raises(ConfigurationError, match=field):
        RetryConfig(**kwargs)  # type: ignore[arg-type]


def test_retry_config_normalises_jitter_and_exception_lists() -> None:
    """jitter=True means FULL, False means NONE; exception lists become tuples."""
    assert RetryConfig(jitter=True).jitter is Jitter.FULL
    assert RetryConfig(jitter=False).jitter is Jitter.NONE
    assert RetryConfig(retryable_exceptions=[KeyError]).retryable_exceptions == (KeyError,)


def test_breaker_config_refuses_bad_rate() -> None:
    """A failure rate outside (0, 100] is refused by name."""
    with pytest.raises(ConfigurationError, match="failure_rate_threshold"):
        CircuitBreakerConfig(failure_rate_threshold=150)
