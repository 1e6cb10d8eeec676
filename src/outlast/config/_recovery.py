"""The settings of the recovery workers (``OUTLAST_RECOVERY_*``): which services the health
sweep probes, the restart hooks it may run, how often it sweeps, and what it does about a
worker that stopped consuming a queue.

``recovery_services`` lists the services (JSON in the environment, a table array in the
TOML file): a name, a kind (``redis``, ``mongodb``, ``smtp``, ``http``), a URL, and the name
of a restart hook. ``recovery_restart_hooks`` is the allow-list: each hook is an argv
command (run without a shell) or a webhook URL, fixed here and never built from event
data; a service naming a hook that is not listed is refused. Read only where the sweep,
the recovery tasks or a worker's client healing run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, loader

__all__ = [
    "RecoveryHookSettings",
    "RecoveryServiceSettings",
    "RecoverySettings",
    "get_recovery_settings",
]

ServiceKind = Literal["redis", "mongodb", "smtp", "http"]
ConsumptionAction = Literal["reconsume", "restart", "record"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecoveryHookSettings(_Part):
    """One allow-listed restart hook: ``argv`` (``wait``: until it exits 0, else started
    and left running) or ``webhook`` (POSTed, expecting a 2xx answer), exactly one."""

    argv: list[str] | None = None
    webhook: str | None = None
    wait: bool = True
    timeout: float = Field(default=30.0, gt=0)

    _webhook = field_validator("webhook")(checks.http_url)

    @model_validator(mode="after")
    def _one_kind(self) -> RecoveryHookSettings:
        if (self.argv is None) == (self.webhook is None):
            raise ValueError("a restart hook is either argv or webhook, exactly one")
        if self.argv is not None and not all(part for part in self.argv):
            raise ValueError("argv must be non-empty strings")
        return self


class RecoveryServiceSettings(_Part):
    """One service the sweep probes: ``kind`` and ``url`` choose the probe and healer;
    ``restart`` names an allow-listed hook; HTTP services expect ``expected_status``."""

    name: str = Field(min_length=1)
    kind: ServiceKind
    url: str = Field(min_length=1)
    restart: str | None = None
    probe_timeout: float = Field(default=1.0, gt=0)
    expected_status: list[int] = Field(default_factory=lambda: [200])


class RecoverySettings(SettingsBase):
    """The recovery workers' settings (``OUTLAST_RECOVERY_*``).

    ``recovery_sweep_interval``: seconds between health sweeps (beat); a service a sweep
    could not heal is healed again every ``recovery_reheal_interval`` seconds until the
    next sweep, so it is healed soon after it returns. A service whose heal
    failed ``recovery_heals_before_restart`` sweeps in a row is restarted through its hook,
    within the restart limit (``recovery_restart_burst`` per ``recovery_restart_window``
    seconds, ``recovery_restart_delay`` doubling up to ``recovery_restart_max_delay``,
    forgotten after ``recovery_restart_reset_after`` healthy seconds).
    ``recovery_consumption_action``: what the sweep does about a worker that lost a queue,
    a queue that grows while no task starts, or a lost canary: ``reconsume`` (the default:
    cancel and re-add the consumer; for a lost canary, the worker drops its broker
    connection and reconnects), ``restart`` (the hook ``recovery_worker_restart`` names),
    or ``record`` only. ``recovery_inspect_timeout`` bounds the workers' answers to the sweep.
    Each sweep sends a canary task to every consumed queue; one not run within
    ``recovery_canary_timeout`` seconds while its consumers are idle is a finding too
    (0: no canaries).
    """

    recovery_services: list[RecoveryServiceSettings] = Field(default_factory=list)
    recovery_restart_hooks: dict[str, RecoveryHookSettings] = Field(default_factory=dict)
    recovery_sweep_interval: float = Field(default=30.0, gt=0)
    recovery_heals_before_restart: int = Field(default=2, ge=1)
    recovery_reheal_interval: float = Field(default=0.5, gt=0)
    recovery_restart_burst: int = Field(default=5, ge=1)
    recovery_restart_window: float = Field(default=600.0, gt=0)
    recovery_restart_delay: float = Field(default=10.0, ge=0)
    recovery_restart_max_delay: float = Field(default=300.0, ge=0)
    recovery_restart_reset_after: float = Field(default=600.0, ge=0)
    recovery_consumption_action: ConsumptionAction = "reconsume"
    recovery_worker_restart: str | None = None
    recovery_inspect_timeout: float = Field(default=1.0, gt=0)
    recovery_canary_timeout: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _hooks_listed(self) -> RecoverySettings:
        names = [s.name for s in self.recovery_services]
        if len(set(names)) != len(names):
            raise ValueError("recovery_services holds a service name twice")
        wanted = [s.restart for s in self.recovery_services] + [self.recovery_worker_restart]
        unknown = sorted({h for h in wanted if h is not None} - set(self.recovery_restart_hooks))
        if unknown:
            raise ValueError(f"restart hooks {unknown} are not in recovery_restart_hooks")
        return self


_load = loader(RecoverySettings)


def get_recovery_settings() -> RecoverySettings:
    """The process's recovery settings, read on first use; SettingsError if one is wrong."""
    return _load()
