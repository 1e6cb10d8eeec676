"""Recovery: the recovery manager and its strategies, services with probes, healers and
restart hooks (rate-limited), recovery callbacks, and statistics shared through Redis.

It may use the store and the resilience library; it never imports workers, tasks,
monitoring, the API or the CLI. Recovery failures reach monitoring as ``RecoveryFailed``
events on the resilience event bus.
"""

from outlast.recovery._configured import configured_services
from outlast.recovery._default import recover_from_database_error, recovery_manager, services
from outlast.recovery._managed_client import ManagedClient
from outlast.recovery._manager import RecoveryManager
from outlast.recovery._mongo_service import managed_mongo, mongo_service
from outlast.recovery._network_probes import http_probe, smtp_probe
from outlast.recovery._outcome import RecoveryOutcome
from outlast.recovery._probe import DEFAULT_PROBE_TIMEOUT, Probe, ProbeResult, run_probe
from outlast.recovery._redis_service import managed_redis, redis_service
from outlast.recovery._registry import RestartDecision, ServiceRegistry
from outlast.recovery._restart_hooks import (
    ArgvRestart,
    RestartFailedError,
    RestartHook,
    WebhookRestart,
)
from outlast.recovery._restart_limit import RestartLimit, RestartLimiter
from outlast.recovery._service import Healer, Service
from outlast.recovery._statistics import RecoveryStatistics
from outlast.recovery._strategy import RecoveryStrategy
from outlast.recovery._sweep import HealthSweep, SweepReport
from outlast.recovery._sweep_memory import SweepMemory

__all__ = [
    "DEFAULT_PROBE_TIMEOUT",
    "ArgvRestart",
    "Healer",
    "HealthSweep",
    "ManagedClient",
    "Probe",
    "ProbeResult",
    "RecoveryManager",
    "RecoveryOutcome",
    "RecoveryStatistics",
    "RecoveryStrategy",
    "RestartDecision",
    "RestartFailedError",
    "RestartHook",
    "RestartLimit",
    "RestartLimiter",
    "Service",
    "ServiceRegistry",
    "SweepMemory",
    "SweepReport",
    "WebhookRestart",
    "configured_services",
    "http_probe",
    "managed_mongo",
    "managed_redis",
    "mongo_service",
    "recover_from_database_error",
    "recovery_manager",
    "redis_service",
    "run_probe",
    "services",
    "smtp_probe",
]
