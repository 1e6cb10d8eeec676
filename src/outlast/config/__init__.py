"""Configuration: settings, policy data and the per-service profiles of the seed.

``get_circuit_breaker_config("database")`` and its siblings return the seed's profile for
that name with any settings override applied; an unknown name gets the default profile
(``DEFAULT_*`` in ``outlast.config._tables``).

``get_settings()`` reads ``Settings`` once and raises one ``outlast.errors.SettingsError``
naming every bad ``OUTLAST_`` variable; the email and payment settings
(``get_email_settings()``, ``get_payment_settings()``) are read only where that work runs.
"""

from __future__ import annotations

from outlast.config._flower import FlowerSettings, get_flower_settings
from outlast.config._lookup import (
    get_bulkhead_config,
    get_circuit_breaker_config,
    get_retry_config,
    get_timeout_config,
)
from outlast.config._metrics import MetricsSettings, get_metrics_settings
from outlast.config._monitoring import MonitoringSettings, get_monitoring_settings
from outlast.config._notify import NotifySettings, get_notify_settings
from outlast.config._orphans import OrphanSettings, get_orphan_settings
from outlast.config._policies import (
    BreakerProfile,
    BulkheadConfig,
    CircuitBreakerConfig,
    Jitter,
    RetryConfig,
    RetryStrategy,
    WindowType,
)
from outlast.config._recovery import RecoverySettings, get_recovery_settings
from outlast.config._sections import (
    EmailSettings,
    PaymentSettings,
    check_settings,
    get_email_settings,
    get_payment_settings,
)
from outlast.config._settings import Settings, get_settings, reload_settings

__all__ = [
    "BreakerProfile",
    "BulkheadConfig",
    "CircuitBreakerConfig",
    "EmailSettings",
    "FlowerSettings",
    "Jitter",
    "MetricsSettings",
    "MonitoringSettings",
    "NotifySettings",
    "OrphanSettings",
    "PaymentSettings",
    "RecoverySettings",
    "RetryConfig",
    "RetryStrategy",
    "Settings",
    "WindowType",
    "check_settings",
    "get_bulkhead_config",
    "get_circuit_breaker_config",
    "get_email_settings",
    "get_flower_settings",
    "get_metrics_settings",
    "get_monitoring_settings",
    "get_notify_settings",
    "get_orphan_settings",
    "get_payment_settings",
    "get_recovery_settings",
    "get_retry_config",
    "get_settings",
    "get_timeout_config",
    "reload_settings",
]
