"""The anomaly detector on synthetic series: steps and spikes flagged, noise left alone."""

from __future__ import annotations

import math
import random

import pytest

from outlast.monitoring import AnomalyConfig, AnomalyState, assess, scan
from outlast.monitoring._anomaly import poisson_tail


def _poisson(rng: random.Random, mean: float) -> int:
    """One Poisson draw (Knuth's method: fine for small means)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _noise(minutes: int, mean: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [_poisson(rng, mean) for _ in range(minutes)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_day_of_poisson_noise_raises_nothing(seed: int) -> None:
    """24 simulated hours at 0.5 errors per minute are never flagged."""
    verdicts = scan(_noise(24 * 60, 0.5, seed), AnomalyConfig())
    assert not [v for v in verdicts if v.anomalous]


def test_a_spike_is_flagged() -> None:
    """One minute of 25 errors over a 0.5/min baseline is flagged, the minutes around not."""
    series = _noise(120, 0.5, seed=7)
    series[90] = 25
    flagged = [i for i, v in enumerate(scan(series, AnomalyConfig())) if v.anomalous]
    assert flagged == [90]


def test_a_step_is_flagged() -> None:
    """A jump from 0.5 to 12 errors per minute is flagged from its first minute."""
    rng = random.Random(11)
    series = _noise(90, 0.5, seed=11) + [_poisson(rng, 12.0) for _ in range(10)]
    verdicts = scan(series, AnomalyConfig())
    assert verdicts[90].anomalous
    assert sum(v.anomalous for v in verdicts[90:]) >= 5
    assert not any(v.anomalous for v in verdicts[:90])


def test_before_the_warm_up_nothing_is_flagged() -> None:
    """Without enough history the state is warming_up, whatever the count."""
    verdict = assess([0] * 5, 500, AnomalyConfig(warmup=30))
    assert verdict.state is AnomalyState.WARMING_UP
    assert not verdict.anomalous


def test_the_minimum_volume_guard_holds_small_counts() -> None:
    """A quiet series (one error an hour) with a count under min_volume pages nobody."""
    history = [0] * 59 + [1]
    verdict = assess(history, 4, AnomalyConfig(min_volume=5))
    assert verdict.state is AnomalyState.NORMAL
    assert assess(history, 9, AnomalyConfig(min_volume=5)).anomalous


def test_poisson_tail_is_exact() -> None:
    """P(X >= k) matches the closed forms and stays accurate far in the tail."""
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)
    expected = 1 - math.exp(-1.0) * (1 + 1 + 0.5)
    assert poisson_tail(3, 1.0) == pytest.approx(expected, rel=1e-12)
    far = math.exp(-0.5) * 0.5**30 / math.factorial(30)
    assert poisson_tail(30, 0.5) == pytest.approx(far, rel=1e-3)


def test_bad_configs_are_refused_with_a_clear_error() -> None:
    """Impossible settings name what is wrong."""
    with pytest.raises(ValueError, match="warmup"):
        AnomalyConfig(warmup=100, history=60)
    with pytest.raises(ValueError, match="alpha"):
        AnomalyConfig(alpha=2.0)
    with pytest.raises(ValueError, match="negative"):
        assess([1, 2], -1, AnomalyConfig(warmup=1))
