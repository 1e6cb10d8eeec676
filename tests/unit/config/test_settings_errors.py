"""Bad settings fail at load with one SettingsError naming each OUTLAST_ variable (or TOML
key), what it holds and what is expected; email and payment settings fail only where used."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlast import get_circuit_breaker
from outlast.config import (
    check_settings,
    get_circuit_breaker_config,
    get_email_settings,
    get_payment_settings,
    get_settings,
    reload_settings,
)
from outlast.errors import ConfigurationError, FieldError, SettingsError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes for one test; every settings object is re-read after."""
    yield monkeypatch
    monkeypatch.undo()
    reload_settings()


def load_error(env: pytest.MonkeyPatch, **variables: str) -> SettingsError:
    """The SettingsError that loading the core settings raises under ``variables``."""
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        reload_settings()
    return caught.value


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "it is not a URL"),
        ("http://cache:6379/0", "scheme 'http' is not supported"),
        ("redis://cache:abc/0", "port is not a number"),
        ("redis://cache:6379/zero", "database (the path) is not a number"),
        ("redis:///0", "names no host"),
        ("unix://", "names no socket path"),
        ("redis+sentinel://s1:26379,s2:26379", "names no service"),
    ],
)
def test_malformed_redis_url_is_refused_at_load(
    env: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    """OUTLAST_REDIS_URL that Redis clients cannot open fails at load, naming it and why."""
    error = load_error(env, OUTLAST_REDIS_URL=url)
    assert str(error).startswith(f"invalid setting: OUTLAST_REDIS_URL holds {url!r}; ")
    assert problem in str(error)
    assert "expected a Redis URL (redis://, rediss://, unix://" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:pw@cache.example:6380",
        "unix:///run/redis.sock",
        "redis+cluster://node1:7000",
        "redis+sentinel://s1:26379,s2:26380/mymaster/2",
    ],
)
def test_every_supported_redis_url_form_loads(env: pytest.MonkeyPatch, url: str) -> None:
    """Each Redis URL form the clients open (plain, TLS, socket, cluster, sentinel) loads."""
    env.setenv("OUTLAST_REDIS_URL", url)
    assert reload_settings().redis_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "it is not a URL"),
        ("sentinel://s1:26379", "master_name"),
        ("kafka://broker:9092", "scheme 'kafka' is not supported"),
        ("amqp://guest@:5672//", "names no host"),
        ("redis://a:6379/0;notaurl", "'notaurl': it is not a URL"),
    ],
)
def test_malformed_broker_url_is_refused_at_load(
    env: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    """OUTLAST_BROKER_URL kombu would misread (as an AMQP host name) fails at load."""
    error = load_error(env, OUTLAST_BROKER_URL=url)
    assert str(error).startswith(f"invalid setting: OUTLAST_BROKER_URL holds {url!r}; ")
    assert problem in str(error)
    assert "expected a broker URL (redis://, rediss://, redis+socket://, amqp://" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672//",
        "amqps://rabbit.example//",
        "pyamqp://rabbit.example",
        "rediss://cache.example:6380/0",
        "redis+socket:///run/redis.sock",
        "redis://a:6379/0;redis://b:6379/0",
    ],
)
def test_every_supported_broker_url_form_loads(env: pytest.MonkeyPatch, url: str) -> None:
    """Each broker URL form Outlast configures (Redis, AMQP, failover lists) loads."""
    env.setenv("OUTLAST_BROKER_URL", url)
    assert reload_settings().broker_url == url


def test_one_error_names_each_bad_variable(env: pytest.MonkeyPatch) -> None:
    """Three bad variables give one error with one line each: variable, value, expectation."""
    error = load_error(
        env,
        OUTLAST_BROKER_VISIBILITY_TIMEOUT="abc",
        OUTLAST_STATE_SCOPE="wide",
        OUTLAST_TIMEOUTS__DATABASE_QUERY="slow",
    )
    assert isinstance(error, ConfigurationError)
    assert str(error) == "\n".join(
        [
            "invalid settings:",
            "  OUTLAST_STATE_SCOPE holds 'wide'; expected one of 'cluster', 'local'",
            "  OUTLAST_BROKER_VISIBILITY_TIMEOUT holds 'abc'; "
            "expected a whole number from 10 to 3600",
            "  OUTLAST_TIMEOUTS__DATABASE_QUERY holds 'slow'; expected a number",
        ]
    )
    assert [p.field for p in error.problems] == [
        "OUTLAST_STATE_SCOPE",
        "OUTLAST_BROKER_VISIBILITY_TIMEOUT",
        "OUTLAST_TIMEOUTS__DATABASE_QUERY",
    ]


def test_bounds_are_stated(env: pytest.MonkeyPatch) -> None:
    """A number outside its bounds is refused with the bounds spelled out."""
    error = load_error(env, OUTLAST_STATE_FLUSH_INTERVAL="0", OUTLAST_BEAT_LEASE_TTL="0.5")
    assert "OUTLAST_STATE_FLUSH_INTERVAL holds '0'; expected a number greater than 0" in str(error)
    assert "OUTLAST_BEAT_LEASE_TTL holds '0.5'; expected a number at least 1" in str(error)


@pytest.mark.parametrize(
    "value", ["myapp.ops", "myapp.ops, myapp.billing", '["myapp.ops", "myapp.billing"]']
)
def test_task_modules_take_a_comma_list_or_json(env: pytest.MonkeyPatch, value: str) -> None:
    """OUTLAST_TASK_MODULES reads a comma-separated list as well as a JSON list."""
    env.setenv("OUTLAST_TASK_MODULES", value)
    expected = ["myapp.ops", "myapp.billing"] if "billing" in value else ["myapp.ops"]
    assert reload_settings().task_modules == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("my-app.ops", "'my-app.ops' is not a module name"),
        ('["a.b"', "it is not a valid JSON list"),
    ],
)
def test_bad_task_modules_are_named(env: pytest.MonkeyPatch, value: str, problem: str) -> None:
    """A module list that is neither form is refused by variable, with the forms expected."""
    error = load_error(env, OUTLAST_TASK_MODULES=value)
    assert str(error) == (
        f"invalid setting: OUTLAST_TASK_MODULES holds {value!r}; {problem}; expected module "
        "names, comma-separated (myapp.ops,myapp.billing) or a JSON list"
    )


def test_nested_variable_is_named_in_full(env: pytest.MonkeyPatch) -> None:
    """An override under ``__`` is named by its full variable, not by the field."""
    error = load_error(env, OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD="many")
    assert str(error) == (
        "invalid setting: OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD holds 'many'; "
        "expected a whole number"
    )


def test_misspelt_nested_field_is_refused_with_the_real_names(env: pytest.MonkeyPatch) -> None:
    """A misspelt override field is refused (not ignored) and the valid names are listed."""
    error = load_error(env, OUTLAST_BULKHEADS__FAMILY_CREATION__CAPACTY="4")
    assert str(error) == (
        "invalid setting: OUTLAST_BULKHEADS__FAMILY_CREATION__CAPACTY holds '4'; "
        "there is no such setting; expected one of capacity, timeout"
    )


def test_json_object_variable_names_the_key_inside(env: pytest.MonkeyPatch) -> None:
    """A whole JSON object in one variable: the variable and the bad key in it are named."""
    value = json.dumps({"database": {"failure_threshold": "x"}})
    error = load_error(env, OUTLAST_CIRCUIT_BREAKERS=value)
    assert str(error) == (
        f"invalid setting: OUTLAST_CIRCUIT_BREAKERS holds {value!r}; "
        "expected database.failure_threshold to be a whole number"
    )


def test_variable_that_is_not_json_is_named(env: pytest.MonkeyPatch) -> None:
    """A variable that needs a JSON object and holds other text is named, not a traceback."""
    error = load_error(env, OUTLAST_RETRIES="fast")
    assert str(error) == "invalid setting: OUTLAST_RETRIES holds 'fast'; expected a JSON object"


def test_toml_error_names_the_file_and_key(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bad value in OUTLAST_CONFIG_FILE is named by file and dotted key."""
    path = tmp_path / "outlast.toml"
    path.write_text('[circuit_breakers.redis]\nfailure_threshold = "many"\n')
    error = load_error(env, OUTLAST_CONFIG_FILE=str(path))
    assert str(error) == (
        f"invalid setting: {path}: circuit_breakers.redis.failure_threshold holds 'many'; "
        "expected a whole number"
    )


def test_toml_value_under_an_empty_variable_names_the_file(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty variable is unset, so a bad file value beneath it is named by file and key."""
    path = tmp_path / "outlast.toml"
    path.write_text("broker_visibility_timeout = 5\n")
    error = load_error(env, OUTLAST_CONFIG_FILE=str(path), OUTLAST_BROKER_VISIBILITY_TIMEOUT="")
    assert str(error) == (
        f"invalid setting: {path}: broker_visibility_timeout holds 5; "
        "expected a whole number from 10 to 3600"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "there is no such file"), ("[unclosed\n", "it is not a readable TOML file")],
)
def test_unreadable_config_file_is_named(
    env: pytest.MonkeyPatch, tmp_path: Path, content: str | None, reason: str
) -> None:
    """A missing or malformed TOML file is named through OUTLAST_CONFIG_FILE, never skipped."""
    path = tmp_path / "outlast.toml"
    if content is not None:
        path.write_text(content)
    error = load_error(env, OUTLAST_CONFIG_FILE=str(path))
    assert str(error).startswith(f"invalid setting: OUTLAST_CONFIG_FILE holds {str(path)!r}; ")
    assert reason in str(error)


def test_unknown_toml_key_is_refused_with_a_near_miss(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A key no settings class has is named with its file, along with any other problem."""
    path = tmp_path / "outlast.toml"
    path.write_text('smtp_prot = 2525\nsmtp_port = 2525\nstate_scope = "wide"\n')
    error = load_error(env, OUTLAST_CONFIG_FILE=str(path))
    assert str(error).splitlines() == [
        "invalid settings:",
        f"  {path}: smtp_prot is not a setting; did you mean 'smtp_port'?",
        f"  {path}: state_scope holds 'wide'; expected one of 'cluster', 'local'",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://app:s3cret-pw@cache:port/0", "redis://app:***@cache:port/0"),
        ("redis://:s3cret@pw@cache:port/0", "redis://:***@cache:port/0"),
    ],
)
def test_url_password_never_appears(env: pytest.MonkeyPatch, url: str, shown: str) -> None:
    """A bad URL is shown with its password masked, even one holding an '@'."""
    error = load_error(env, OUTLAST_REDIS_URL=url)
    assert "s3cret" not in str(error)
    assert f"holds {shown!r};" in str(error)


def test_breaker_with_a_malformed_redis_url_raises_the_settings_error(
    env: pytest.MonkeyPatch,
) -> None:
    """A breaker made under OUTLAST_REDIS_URL=notaurl raises SettingsError, not ValueError."""
    error = load_error(env, OUTLAST_REDIS_URL="notaurl")
    with pytest.raises(SettingsError) as caught:
        get_circuit_breaker("settings_errors_breaker")
    assert str(caught.value) == str(error)


def test_bad_smtp_setting_breaks_only_email(env: pytest.MonkeyPatch) -> None:
    """OUTLAST_SMTP_PORT=99999 leaves settings and breakers working; email use is refused."""
    env.setenv("OUTLAST_SMTP_PORT", "99999")
    reload_settings()
    assert get_circuit_breaker_config("database").failure_threshold == 5
    with pytest.raises(SettingsError) as caught:
        get_email_settings()
    assert str(caught.value) == (
        "invalid setting: OUTLAST_SMTP_PORT holds '99999'; expected a whole number from 1 to 65535"
    )


def test_bad_payment_gateway_breaks_only_payments(env: pytest.MonkeyPatch) -> None:
    """A gateway URL without a scheme fails where payments read it, not elsewhere."""
    env.setenv("OUTLAST_PAYMENT_GATEWAY_URL", "gateway.example/v1")
    assert reload_settings().namespace == "default"
    with pytest.raises(SettingsError) as caught:
        get_payment_settings()
    assert str(caught.value).startswith(
        "invalid setting: OUTLAST_PAYMENT_GATEWAY_URL holds 'gateway.example/v1'; "
        "it is not a URL; expected an http:// or https:// URL"
    )


def test_check_settings_names_every_section_asked(env: pytest.MonkeyPatch) -> None:
    """check_settings(email=True, payments=True) reports core and section problems at once."""
    env.setenv("OUTLAST_BROKER_URL", "notaurl")
    env.setenv("OUTLAST_SMTP_PORT", "0")
    env.setenv("OUTLAST_PAYMENT_TIMEOUT", "soon")
    with pytest.raises(SettingsError) as caught:
        check_settings(email=True, payments=True)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["OUTLAST_BROKER_URL", "OUTLAST_SMTP_PORT", "OUTLAST_PAYMENT_TIMEOUT"]
    with pytest.raises(SettingsError) as core_only:
        check_settings()
    assert [p.field for p in core_only.value.problems] == ["OUTLAST_BROKER_URL"]


@pytest.mark.parametrize(
    "url", ["redis+cluster://node:7000", "redis+sentinel://s1:26379/main", "unix:///run/r.sock"]
)
def test_a_worker_broker_cannot_fall_back_to_a_url_kombu_cannot_open(
    env: pytest.MonkeyPatch, url: str
) -> None:
    """Cluster, Sentinel or socket OUTLAST_REDIS_URL without OUTLAST_BROKER_URL: the worker
    check refuses it (breakers alone may use it)."""
    env.setenv("OUTLAST_REDIS_URL", url)
    check_settings()
    with pytest.raises(SettingsError) as caught:
        check_settings(broker=True)
    assert str(caught.value).startswith(
        f"invalid setting: OUTLAST_REDIS_URL holds '{url.split('://')[0]}://...' and "
        "OUTLAST_BROKER_URL is not set; the broker falls back to this URL"
    )
    env.setenv("OUTLAST_BROKER_URL", "redis+socket:///run/r.sock")
    check_settings(broker=True)


def test_settings_error_survives_pickling() -> None:
    """A SettingsError crosses process boundaries with its problems and message whole."""
    error = SettingsError(
        [FieldError(field="OUTLAST_X", code="c", message="holds '1'; expected 2")]
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.problems) == (str(error), error.problems)


def test_good_settings_still_load(env: pytest.MonkeyPatch) -> None:
    """Valid values across core and sections load as before."""
    env.setenv("OUTLAST_SMTP_PORT", "2525")
    env.setenv("OUTLAST_PAYMENT_GATEWAY_URL", "https://gateway.example/v1")
    reload_settings()
    assert get_settings().task_modules == []
    assert get_email_settings().smtp_port == 2525
    assert get_payment_settings().payment_gateway_url == "https://gateway.example/v1"


def test_empty_variable_counts_as_unset(env: pytest.MonkeyPatch) -> None:
    """OUTLAST_REDIS_URL= (empty, as compose files leave it) is no URL, not a malformed one."""
    env.setenv("OUTLAST_REDIS_URL", "")
    env.setenv("OUTLAST_PAYMENT_GATEWAY_URL", "")
    assert reload_settings().redis_url is None
    assert get_payment_settings().payment_gateway_url is None
