"""The eight alert rules: what is firing, given the numbers of one evaluation.

:func:`evaluate_rules` turns :class:`AlertInputs` (per-service counts over the rules'
window, per-fingerprint counts, per-minute error series and open breakers) into
:class:`AlertCandidate` s, each identified by its labels as Alertmanager identifies alerts:
``alert_id`` is a hash of the label set, so the same condition always raises the same alert.
An alert already active is kept by the lower resolve thresholds (hysteresis).

Pure: no I/O, no clock; the caller gathers the inputs and stores the outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._anomaly import assess

__all__ = [
    "ALERT_TYPES",
    "AlertCandidate",
    "AlertInputs",
    "ServiceCounts",
    "alert_id",
    "evaluate_rules",
]

ALERT_TYPES = (
    "error_rate_high",
    "error_rate_critical",
    "anomaly_detected",
    "repeated_errors",
    "system_degradation",
    "recovery_failure",
    "performance_impact",
    "security_concern",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceCounts:
    """What one service did over the rules' window."""

    errors: int = 0
    calls: int = 0
    high_severity: int = 0
    slow: int = 0
    recovery_failures: int = 0
    auth_failures: int = 0
    injection_attempts: int = 0

    @property
    def failure_ratio(self) -> float:
        """Failed calls over all calls (0 without calls)."""
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertInputs:
    """The numbers one evaluation judges.

    ``fingerprints`` maps a fingerprint to (count, service, operation); ``series`` maps a
    service to its errors per complete minute, oldest first; ``open_breakers`` maps an open
    breaker's name to its service.
    """

    services: Mapping[str, ServiceCounts] = field(default_factory=dict)
    fingerprints: Mapping[str, tuple[int, str, str]] = field(default_factory=dict)
    series: Mapping[str, Sequence[int]] = field(default_factory=dict)
    open_breakers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """An alert a rule says is firing now."""

    labels: dict[str, str]
    severity: ErrorSeverity
    title: str
    message: str
    details: dict[str, Any]

    @property
    def id(self) -> str:
        """The alert's identity: see :func:`alert_id`."""
        return alert_id(self.labels)


def alert_id(labels: Mapping[str, str]) -> str:
    """``<alertname>:<hash of the sorted label set>``: equal labels, equal id."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{labels.get('alertname', 'alert')}:{digest}"


def evaluate_rules(
    inputs: AlertInputs, *, active: Collection[str], rules: AlertRules
) -> list[AlertCandidate]:
    """Every alert firing on ``inputs``; ``active`` holds the ids of the active alerts."""
    found: list[AlertCandidate] = []
    for rule in (_error_rates, _anomalies, _repeated, _degradation, _recovery,
                 _performance, _security):  # fmt: skip
        found.extend(rule(inputs, active, rules))
    return found


def _candidate(
    alertname: str, severity: ErrorSeverity, title: str, message: str, **labels: str
) -> AlertCandidate:
    return AlertCandidate({"alertname": alertname, **labels}, severity, title, message, {})


def _error_rates(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    levels = (
        ("error_rate_critical", rules.error_rate_critical, rules.error_rate_critical_resolve,
         ErrorSeverity.CRITICAL),
        ("error_rate_high", rules.error_rate_high, rules.error_rate_high_resolve,
         ErrorSeverity.HIGH),
    )  # fmt: skip
    for service, counts in sorted(inputs.services.items()):
        if counts.calls < rules.min_calls:
            continue
        for name, fire, resolve, severity in levels:
            labels = {"alertname": name, "service": service}
            threshold = resolve if alert_id(labels) in active else fire
            if counts.failure_ratio >= threshold:
                title = f"{service}: error rate {counts.failure_ratio:.1%}"
                message = f"{counts.errors} of {counts.calls} calls failed in {rules.window}"
                found = _candidate(name, severity, title, message, service=service)
                found.details.update(failure_ratio=counts.failure_ratio, threshold=threshold,
                                     errors=counts.errors, calls=counts.calls)  # fmt: skip
                yield found


def _anomalies(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    for service, series in sorted(inputs.series.items()):
        if not series:
            continue
        verdict = assess(series[:-1], series[-1], rules.anomaly)
        if verdict.anomalous:
            title = f"{service}: unusual number of errors"
            message = f"{verdict.observed} errors in a minute, about {verdict.expected:.1f} usual"
            found = _candidate("anomaly_detected", ErrorSeverity.HIGH, title, message,
                               service=service)  # fmt: skip
            found.details.update(observed=verdict.observed, expected=verdict.expected,
                                 p_value=verdict.p_value)  # fmt: skip
            yield found


def _repeated(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    for fingerprint, (count, service, operation) in sorted(inputs.fingerprints.items()):
        if count >= rules.repeated_errors:
            title = f"{operation}: the same error {count} times"
            message = f"error group {fingerprint} occurred {count} times in {rules.window}"
            yield _candidate("repeated_errors", ErrorSeverity.MEDIUM, title, message,
                             service=service, fingerprint=fingerprint)  # fmt: skip


def _degradation(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    struggling = {
        s for s, c in inputs.services.items() if c.high_severity >= rules.degradation_high_errors
    }
    struggling.update(inputs.open_breakers.values())
    if len(struggling) >= rules.degraded_services:
        names = ", ".join(sorted(struggling))
        message = f"{len(struggling)} services degraded at once: {names}"
        found = _candidate("system_degradation", ErrorSeverity.CRITICAL,
                           "Several services degraded", message)  # fmt: skip
        found.details.update(services=sorted(struggling),
                             open_breakers=sorted(inputs.open_breakers))  # fmt: skip
        yield found


def _recovery(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    for service, counts in sorted(inputs.services.items()):
        if counts.recovery_failures >= rules.recovery_failures:
            message = f"{counts.recovery_failures} recoveries failed in {rules.window}"
            yield _candidate("recovery_failure", ErrorSeverity.HIGH,
                             f"{service}: recovery failing", message, service=service)  # fmt: skip


def _performance(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    for service, counts in sorted(inputs.services.items()):
        if counts.slow >= rules.performance_errors:
            message = (f"{counts.slow} slow calls, timeouts and capacity rejections "
                       f"in {rules.window}")  # fmt: skip
            yield _candidate("performance_impact", ErrorSeverity.MEDIUM,
                             f"{service}: slow or refused calls", message,
                             service=service)  # fmt: skip


def _security(
    inputs: AlertInputs, active: Collection[str], rules: AlertRules
) -> Iterator[AlertCandidate]:
    for service, counts in sorted(inputs.services.items()):
        injections = counts.injection_attempts >= rules.injection_attempts
        if injections or counts.auth_failures >= rules.auth_failures:
            message = (f"{counts.injection_attempts} injection attempts and "
                       f"{counts.auth_failures} security errors in {rules.window}")  # fmt: skip
            yield _candidate("security_concern", ErrorSeverity.HIGH,
                             f"{service}: security concern", message, service=service)  # fmt: skip
