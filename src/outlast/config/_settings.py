"""Settings from the environment (prefix ``OUTLAST_``) and an optional TOML file.

Profile overrides merge over the seed tables field by field, so
``OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD=7`` changes one number and keeps
the rest of the ``database`` profile. ``OUTLAST_CONFIG_FILE`` names a TOML file whose
values sit below the environment's.

Settings are checked whole when first read (:func:`get_settings`): a wrong value raises one
:class:`~outlast.errors.SettingsError` naming each bad variable (or TOML key), what it holds
and what is expected; no default ever stands in for a value that was given but is wrong.
The settings of one kind of built-in work (``EmailSettings``, ``PaymentSettings`` in
``outlast.config._sections``) are read only where that work runs, so a wrong SMTP port
never breaks code that sends no email.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, clear_loaded, loader
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

    failure_threshold: int | None = Field(
        default=None, description="Consecutive failures that open the breaker."
    )
    recovery_timeout: float | None = Field(
        default=None, description="Seconds open before half-open probes are let through."
    )
    half_open_max_calls: int | None = Field(
        default=None, description="Probe calls admitted while half-open."
    )
    failure_rate_threshold: float | None = Field(
        default=None, description="Failure ratio over the window that opens the breaker."
    )
    slow_call_rate_threshold: float | None = Field(
        default=None, description="Slow-call ratio over the window that opens the breaker."
    )
    slow_call_duration: float | None = Field(
        default=None, description="Seconds after which a call counts as slow."
    )
    window_type: WindowType | None = Field(
        default=None, description="Sliding window by call count or by time."
    )
    window_size: int | None = Field(
        default=None, description="Calls (count window) or seconds (time window) in the window."
    )
    minimum_calls: int | None = Field(
        default=None, description="Calls in the window before its rates are judged."
    )
    profile: BreakerProfile | None = Field(
        default=None, description="The profile name of the specification's tables."
    )


class BulkheadOverride(_Override):
    """Fields of a bulkhead profile that settings may change."""

    capacity: int | None = Field(default=None, description="Calls admitted at once.")
    timeout: float | None = Field(
        default=None, description="Seconds a call waits for a permit before it is refused."
    )


class RetryOverride(_Override):
    """Fields of a retry profile that settings may change (exception lists stay in code)."""

    max_attempts: int | None = Field(default=None, description="Attempts, the first included.")
    initial_delay: float | None = Field(default=None, description="Seconds before the first retry.")
    backoff_factor: float | None = Field(
        default=None, description="Growth of the delay from one retry to the next."
    )
    max_delay: float | None = Field(default=None, description="Cap on any one delay, in seconds.")
    strategy: RetryStrategy | None = Field(
        default=None, description="Fixed, exponential, linear or fibonacci backoff."
    )
    jitter: bool | None = Field(default=None, description="Whether delays are randomized.")
    attempt_timeout: float | None = Field(default=None, description="Seconds one attempt may take.")
    deadline: float | None = Field(
        default=None, description="Seconds the whole call may take, retries included."
    )


class Settings(SettingsBase):
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
    A message whose worker process died during ``max_worker_losses`` of its starts is not
    run again but dead-lettered (an operation may set its own).
    ``task_modules`` (a JSON list) names the application's modules of ``@operation``s, which
    every worker imports. Of several beat processes only the one holding a leader lease of
    ``beat_lease_ttl`` seconds in Redis sends the schedule; another takes over within about
    that time after it dies.
    Each worker checks every ``worker_watchdog_interval`` seconds that it consumes its
    queues, and re-establishes its consumers when work waited ``worker_watchdog_stall``
    seconds without reaching it. Work sent through ``enqueue`` that is in no queue and
    never started ``ledger_grace`` seconds after it was sent is sent again by beat's
    ledger sweep, which runs every ``ledger_sweep_interval`` seconds.
    Error monitoring buffers up to ``monitoring_buffer_size`` events per process (beyond
    that it drops and counts them) and writes them to Redis and the store every
    ``monitoring_flush_interval`` seconds.
    Alerts group as Alertmanager's do: a new group is notified ``alert_group_wait`` seconds
    after its first alert, updated at most every ``alert_group_interval`` seconds, and an
    unacknowledged alert repeated every ``alert_repeat_interval`` seconds. A service's
    failure ratio (with at least ``alert_min_calls`` calls) raises ``error_rate_high`` at
    ``alert_error_rate_high`` and ``error_rate_critical`` at ``alert_error_rate_critical``;
    each resolves under its ``..._resolve`` ratio.

    URLs are checked by form when read: ``redis_url`` is redis://, rediss://, unix://,
    redis+cluster:// or redis+sentinel://; ``broker_url`` one that kombu opens for Outlast
    (redis://, rediss://, redis+socket://, amqp://, amqps://, pyamqp://).

    Built-in work reads its own settings where it runs: the payment gateway
    (``PaymentSettings``) and the SMTP relay (``EmailSettings``).
    """

    redis_url: str | None = Field(
        default=None,
        description="Redis for shared breaker and bulkhead state, the store and (unless "
        "`OUTLAST_BROKER_URL` is set) the broker: redis://, rediss://, unix://, "
        "redis+cluster:// or redis+sentinel://.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://, rediss://, redis+socket://, amqp://, amqps://, "
        "pyamqp://); unset, the broker is `OUTLAST_REDIS_URL`, else the local Redis.",
    )
    mongodb_url: str | None = Field(
        default=None,
        description="Set, the durable store (dead letters, idempotency, retry schedule, "
        "events, alerts) lives in this MongoDB instead of Redis.",
    )
    namespace: str = Field(
        default="default",
        description="Keeps deployments sharing one Redis apart: broker, results, store and "
        "shared state live under their own key prefix.",
    )
    state_scope: Literal["cluster", "local"] | None = Field(
        default=None,
        description="Whether breakers and bulkheads share their state through Redis; unset, "
        "cluster when `OUTLAST_REDIS_URL` is set, else local.",
    )
    state_flush_interval: float = Field(
        default=0.05,
        gt=0,
        description="Seconds between a cluster breaker's batched writes of outcomes to Redis.",
    )
    state_sync_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between an idle cluster breaker's re-reads of its view.",
    )
    redis_down_policy: Literal["local", "fail_open", "fail_closed"] = Field(
        default="local",
        description="What a cluster breaker does while Redis does not answer: continue on "
        "local state and resync, let every call through, or refuse every call.",
    )
    bulkhead_lease: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a cluster bulkhead permit lasts unless renewed (a killed holder "
        "loses it after this).",
    )
    result_backend: str | None = Field(
        default=None,
        description="Where Celery keeps task results; unset, the broker.",
    )
    broker_visibility_timeout: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="Seconds before a Redis broker hands an unacknowledged message to "
        "another worker.",
    )
    task_time_limit: float | None = Field(
        default=600.0,
        gt=0,
        description="Hard time limit of a task, in seconds: the pool kills it; counted as a "
        "timeout under the retry policy.",
    )
    task_soft_time_limit: float | None = Field(
        default=540.0,
        gt=0,
        description="Soft time limit of a task, in seconds: raised inside it; counted as a "
        "timeout under the retry policy.",
    )
    worker_soft_shutdown_timeout: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a stopping worker lets running tasks finish before it stops for good.",
    )
    retry_park_threshold: float = Field(
        default=60.0,
        gt=0,
        description="Retry delays longer than this many seconds wait in the store, released "
        "by beat, instead of on the broker.",
    )
    idempotency_claim_lease: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an idempotent operation's claim lasts, renewed while it runs; a "
        "dead worker's work is taken over after about this.",
    )
    max_worker_losses: int = Field(
        default=3,
        ge=1,
        description="Starts during which a message's worker process died before the message "
        "is dead-lettered as `worker_lost`.",
    )
    task_modules: list[str] = Field(
        default_factory=list,
        description="The application's modules of `@operation`s, imported by every worker "
        "(comma-separated or a JSON list).",
    )
    retry_release_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between beat's releases of parked retries that are due.",
    )
    beat_lease_ttl: float = Field(
        default=10.0,
        ge=1.0,
        description="Seconds of the leader lease that lets one beat of several send the "
        "schedule; a standby takes over within about this.",
    )
    worker_watchdog_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between a worker's checks that it still consumes its queues.",
    )
    worker_watchdog_stall: float = Field(
        default=5.0,
        gt=0,
        description="Seconds work may wait without reaching a worker before it "
        "re-establishes its consumers.",
    )
    ledger_grace: float = Field(
        default=10.0,
        gt=0,
        description="Seconds after sending before beat's ledger sweep sends again work that "
        "is in no queue and never started.",
    )
    ledger_sweep_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between beat's sweeps of the ledger of sent work.",
    )
    monitoring_buffer_size: int = Field(
        default=100_000,
        ge=1,
        description="Error events buffered per process; beyond that they are dropped and counted.",
    )
    monitoring_flush_interval: float = Field(
        default=0.5,
        gt=0,
        description="Seconds between flushes of buffered error events to Redis and the store.",
    )
    alert_group_wait: float = Field(
        default=30.0,
        ge=0,
        description="Seconds after its first alert before a new alert group is notified.",
    )
    alert_group_interval: float = Field(
        default=300.0,
        gt=0,
        description="Least seconds between notifications of changes to an alert group.",
    )
    alert_repeat_interval: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="Seconds between repeats of an unacknowledged alert's notification.",
    )
    alert_min_calls: int = Field(
        default=20,
        ge=1,
        description="Calls a service must have in the window before its error rate can "
        "raise an alert.",
    )
    alert_error_rate_high: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Failure ratio that raises `error_rate_high`.",
    )
    alert_error_rate_high_resolve: float = Field(
        default=0.03,
        gt=0,
        le=1,
        description="Failure ratio under which `error_rate_high` resolves.",
    )
    alert_error_rate_critical: float = Field(
        default=0.20,
        gt=0,
        le=1,
        description="Failure ratio that raises `error_rate_critical`.",
    )
    alert_error_rate_critical_resolve: float = Field(
        default=0.10,
        gt=0,
        le=1,
        description="Failure ratio under which `error_rate_critical` resolves.",
    )
    circuit_breakers: dict[str, BreakerOverride] = Field(
        default_factory=dict,
        description="Per-name overrides of circuit breaker profiles.",
    )
    bulkheads: dict[str, BulkheadOverride] = Field(
        default_factory=dict,
        description="Per-name overrides of bulkhead profiles.",
    )
    retries: dict[str, RetryOverride] = Field(
        default_factory=dict,
        description="Per-name overrides of retry profiles.",
    )
    timeouts: dict[str, float] = Field(
        default_factory=dict,
        description="Per-name timeouts in seconds (`get_timeout_config`).",
    )

    _redis_url = field_validator("redis_url")(checks.redis_url)
    _broker_url = field_validator("broker_url")(checks.broker_url)
    _mongodb_url = field_validator("mongodb_url")(checks.mongodb_url)
    _result_backend = field_validator("result_backend")(checks.result_backend_url)
    # A comma-separated list is read too (``OUTLAST_TASK_MODULES=myapp.ops,myapp.billing``).
    _task_modules = field_validator("task_modules", mode="before")(checks.module_list)


def overrides_of(model: _Override) -> dict[str, Any]:
    """The fields a settings override actually sets."""
    return dict(model.model_dump(exclude_none=True).items())


_load_settings = loader(Settings)


def get_settings() -> Settings:
    """The process's settings, read once; SettingsError naming each bad variable."""
    return _load_settings()


def reload_settings() -> Settings:
    """Read the settings again (after the environment or the file changed)."""
    clear_loaded()
    return get_settings()
