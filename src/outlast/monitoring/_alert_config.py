"""The alert rules' thresholds: one frozen dataclass with documented, checked defaults.

Every count and ratio is read over ``window`` (5 minutes by default) per service, except
anomaly detection, which judges each service's last complete minute against the hour
before it. A rule that fires raises its alert; an active alert resolves once its rule no
longer holds, or, for the error-rate rules, once the ratio falls under the lower resolve
threshold (hysteresis). Pure data: reads nothing, decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from outlast.monitoring._anomaly import AnomalyConfig

__all__ = ["DEFAULT_INJECTION_MARKERS", "AlertRules"]

DEFAULT_INJECTION_MARKERS: Final = (
    "keys starting with '$'",
    "control characters",
    "<script",
    "javascript:",
    "union select",
    "drop table",
    "' or '",
    "$where",
    "../",
)
"""Text in a validation rejection's message that marks an injection attempt (any case)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRules:
    """When each of the eight alert types fires (defaults in brackets).

    - ``error_rate_high``: failed / all calls of a service reaches ``error_rate_high``
      [5 %] with at least ``min_calls`` [20] calls; resolves under ``error_rate_high_resolve``
      [3 %]. ``error_rate_critical`` likewise at [20 %], resolving under [10 %].
    - ``anomaly_detected``: ``anomaly`` (see ``_anomaly``; 30 minutes of warm-up) flags the
      service's last complete minute.
    - ``repeated_errors``: one fingerprint occurs ``repeated_errors`` [10] times.
    - ``system_degradation``: ``degraded_services`` [2] services each have
      ``degradation_high_errors`` [3] high or critical errors or an open breaker.
    - ``recovery_failure``: ``recovery_failures`` [3] errors of one service were recorded
      with a recovery attempted that did not succeed.
    - ``performance_impact``: ``performance_errors`` [10] slow calls (operation attempts
      that succeeded after at least ``OUTLAST_MONITORING_SLOW_CALL`` seconds [5]),
      timeouts and capacity rejections (bulkheads, rate limits) in one service.
    - ``security_concern``: ``auth_failures`` [5] security errors (authentication,
      permission) or ``injection_attempts`` [1] validation rejections carrying one of
      ``injection_markers`` in one service.
    """

    window: str = "5m"
    error_rate_high: float = 0.05
    error_rate_high_resolve: float = 0.03
    error_rate_critical: float = 0.20
    error_rate_critical_resolve: float = 0.10
    min_calls: int = 20
    anomaly: AnomalyConfig = field(default_factory=lambda: AnomalyConfig(history=50, warmup=30))
    repeated_errors: int = 10
    degradation_high_errors: int = 3
    degraded_services: int = 2
    recovery_failures: int = 3
    performance_errors: int = 10
    auth_failures: int = 5
    injection_attempts: int = 1
    injection_markers: tuple[str, ...] = DEFAULT_INJECTION_MARKERS

    def __post_init__(self) -> None:
        if self.window not in ("1m", "5m", "1h"):
            raise ValueError(f"AlertRules.window must be '1m', '5m' or '1h', got {self.window!r}")
        _check_ratio("error_rate_high", self.error_rate_high_resolve, self.error_rate_high)
        _check_ratio(
            "error_rate_critical", self.error_rate_critical_resolve, self.error_rate_critical
        )
        if self.error_rate_critical <= self.error_rate_high:
            raise ValueError("AlertRules.error_rate_critical must be above error_rate_high")
        for name in (
            "min_calls", "repeated_errors", "degradation_high_errors", "degraded_services",
            "recovery_failures", "performance_errors", "auth_failures", "injection_attempts",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AlertRules.{name} must be a positive int, got {value!r}")


def _check_ratio(name: str, resolve: float, fire: float) -> None:
    if not 0 < resolve < fire <= 1:
        raise ValueError(
            f"AlertRules needs 0 < {name}_resolve < {name} <= 1, got {resolve} and {fire}"
        )
