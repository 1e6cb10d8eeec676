"""The eight alert rules: each fires on its scenario and stays silent on a calm baseline."""

from __future__ import annotations

import random

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._alert_rules import (
    ALERT_TYPES,
    AlertCandidate,
    AlertInputs,
    ServiceCounts,
    alert_id,
    evaluate_rules,
)

RULES = AlertRules()


def _calm_series(seed: int = 7) -> list[int]:
    """An hour of a quiet service: about one error every two minutes."""
    rng = random.Random(seed)
    return [1 if rng.random() < 0.5 else 0 for _ in range(59)]


def calm() -> AlertInputs:
    """A healthy system: 1% errors, a few medium errors, normal noise, no breaker open."""
    services = {
        "payments": ServiceCounts(errors=3, calls=300, high_severity=1, slow=2),
        "emails": ServiceCounts(errors=1, calls=100, auth_failures=1),
    }
    return AlertInputs(
        services=services,
        fingerprints={"fp-a": (4, "payments", "payments.charge")},
        series={"payments": _calm_series(), "emails": _calm_series(8)},
    )


def fired(inputs: AlertInputs, active: set[str] | None = None) -> list[AlertCandidate]:
    """What the default rules raise on ``inputs``."""
    return evaluate_rules(inputs, active=active or set(), rules=RULES)


def names(found: list[AlertCandidate]) -> set[str]:
    """The alert types among ``found``."""
    return {c.labels["alertname"] for c in found}


def test_a_calm_baseline_raises_nothing() -> None:
    """Low error rates, noise, a few high errors and one auth failure raise no alert."""
    assert fired(calm()) == []


def test_error_rate_high_and_critical_fire_at_their_thresholds() -> None:
    """8% failures raise error_rate_high; 25% raise the critical one too."""
    high = fired(AlertInputs(services={"payments": ServiceCounts(errors=8, calls=100)}))
    assert names(high) == {"error_rate_high"}
    assert high[0].labels == {"alertname": "error_rate_high", "service": "payments"}
    assert high[0].severity is ErrorSeverity.HIGH
    critical = fired(AlertInputs(services={"payments": ServiceCounts(errors=25, calls=100)}))
    assert names(critical) == {"error_rate_high", "error_rate_critical"}


def test_error_rates_need_the_minimum_volume() -> None:
    """Five failures in ten calls (50%) raise nothing: too few calls to judge."""
    assert fired(AlertInputs(services={"payments": ServiceCounts(errors=5, calls=10)})) == []


def test_an_active_error_rate_alert_holds_until_the_resolve_threshold() -> None:
    """At 4% a new alert does not fire but an active one stays (hysteresis); at 2% it goes."""
    inputs = AlertInputs(services={"payments": ServiceCounts(errors=4, calls=100)})
    active = {alert_id({"alertname": "error_rate_high", "service": "payments"})}
    assert fired(inputs) == []
    assert names(fired(inputs, active)) == {"error_rate_high"}
    lower = AlertInputs(services={"payments": ServiceCounts(errors=2, calls=100)})
    assert fired(lower, active) == []


def test_anomaly_fires_on_a_spike_after_a_calm_hour() -> None:
    """Twelve errors in a minute after an hour of about 0.5 a minute is an anomaly."""
    series = {"payments": [*_calm_series()[:-1], 12]}
    found = fired(AlertInputs(series=series))
    assert names(found) == {"anomaly_detected"}
    assert found[0].details["observed"] == 12


def test_anomaly_waits_for_history() -> None:
    """The same spike after ten minutes of history is not judged (warm-up)."""
    assert fired(AlertInputs(series={"payments": [0] * 10 + [12]})) == []


def test_repeated_errors_fire_per_fingerprint() -> None:
    """A fingerprint seen 10 times raises one alert labelled with it; 9 times raise none."""
    found = fired(AlertInputs(fingerprints={"fp-x": (10, "payments", "payments.charge")}))
    assert [c.labels for c in found] == [
        {"alertname": "repeated_errors", "service": "payments", "fingerprint": "fp-x"}
    ]
    assert fired(AlertInputs(fingerprints={"fp-x": (9, "payments", "payments.charge")})) == []


def test_system_degradation_needs_several_services() -> None:
    """High-severity errors in one service and an open breaker in another degrade the
    system; either alone does not."""
    services = {"payments": ServiceCounts(high_severity=3)}
    both = AlertInputs(services=services, open_breakers={"emails.smtp": "emails"})
    found = fired(both)
    assert names(found) == {"system_degradation"}
    assert found[0].severity is ErrorSeverity.CRITICAL
    assert found[0].details["services"] == ["emails", "payments"]
    assert fired(AlertInputs(services=services)) == []
    assert fired(AlertInputs(open_breakers={"emails.smtp": "emails"})) == []


def test_recovery_failure_fires_on_failed_recoveries() -> None:
    """Three failed recoveries in a service raise recovery_failure; two do not."""
    assert names(fired(AlertInputs(services={"db": ServiceCounts(recovery_failures=3)}))) == {
        "recovery_failure"
    }
    assert fired(AlertInputs(services={"db": ServiceCounts(recovery_failures=2)})) == []


def test_performance_impact_fires_on_timeouts_and_rejections() -> None:
    """Ten timeouts or capacity rejections in a service raise performance_impact."""
    found = fired(AlertInputs(services={"api": ServiceCounts(slow=10)}))
    assert names(found) == {"performance_impact"}
    assert fired(AlertInputs(services={"api": ServiceCounts(slow=9)})) == []


def test_security_concern_fires_on_one_injection_or_many_auth_failures() -> None:
    """One injection attempt or five auth failures raise security_concern; four do not."""
    injection = AlertInputs(services={"api": ServiceCounts(injection_attempts=1)})
    assert names(fired(injection)) == {"security_concern"}
    auth = AlertInputs(services={"api": ServiceCounts(auth_failures=5)})
    assert names(fired(auth)) == {"security_concern"}
    assert fired(AlertInputs(services={"api": ServiceCounts(auth_failures=4)})) == []


def test_every_alert_type_has_a_rule_scenario() -> None:
    """The scenarios above cover all eight of the seed's alert types."""
    scenario = AlertInputs(
        services={
            "a": ServiceCounts(errors=30, calls=100, high_severity=3, slow=10,
                               recovery_failures=3, injection_attempts=1),
            "b": ServiceCounts(high_severity=3),
        },
        fingerprints={"fp": (10, "a", "a.op")},
        series={"a": [*_calm_series()[:-1], 12]},
    )  # fmt: skip
    assert names(fired(scenario)) == set(ALERT_TYPES)


def test_alert_identity_is_the_label_set() -> None:
    """Equal labels give equal ids whatever their order; other labels another id."""
    first = alert_id({"alertname": "x", "service": "a"})
    assert first == alert_id({"service": "a", "alertname": "x"})
    assert first.startswith("x:")
    assert first != alert_id({"alertname": "x", "service": "b"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"error_rate_high_resolve": 0.06}, "error_rate_high_resolve"),
        ({"error_rate_critical": 0.04}, "error_rate_critical"),
        ({"repeated_errors": 0}, "repeated_errors"),
        ({"window": "2m"}, "window"),
    ],
)
def test_bad_rule_settings_are_refused(change: dict[str, object], message: str) -> None:
    """A resolve threshold above its trigger, inverted levels or a zero count are refused."""
    with pytest.raises(ValueError, match=message):
        AlertRules(**change)  # type: ignore[arg-type]
