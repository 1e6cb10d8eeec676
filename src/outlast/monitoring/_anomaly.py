"""Anomaly detection on a series of error counts per interval (pure functions, no I/O).

For each new count, the baseline is the recent history (the last ``history`` intervals):

* its median and MAD (median absolute deviation, scaled by 1.4826 to estimate a standard
  deviation) give a robust band ``median + sensitivity * MAD``;
* its expected count is the larger of the median and the trimmed mean (the top
  ``trim`` share of the history left out, so past spikes do not raise the baseline), never
  below ``floor_rate`` — a quiet series (median 0) still expects its occasional error;
* the count is anomalous when it reaches ``min_volume``, lies above the band, and the exact
  Poisson tail P(X >= count | expected) is below ``alpha``.

Before ``warmup`` intervals of history the state is ``warming_up`` and nothing is flagged,
so a new or quiet service with one error an hour pages nobody.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AnomalyConfig", "AnomalyState", "Verdict", "assess", "poisson_tail", "scan"]

_MAD_SCALE = 1.4826


class AnomalyState(enum.Enum):
    """What the detector says of one interval."""

    WARMING_UP = "warming_up"
    NORMAL = "normal"
    ANOMALOUS = "anomalous"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyConfig:
    """How sure the detector must be before it flags an interval."""

    history: int = 60
    warmup: int = 30
    sensitivity: float = 3.0
    alpha: float = 1e-6
    min_volume: int = 5
    floor_rate: float = 0.1
    trim: float = 0.1

    def __post_init__(self) -> None:
        if self.history < 1 or not 1 <= self.warmup <= self.history:
            raise ValueError(
                f"AnomalyConfig needs 1 <= warmup <= history, got warmup={self.warmup}, "
                f"history={self.history}"
            )
        if not 0 < self.alpha < 1:
            raise ValueError(f"AnomalyConfig.alpha must be in (0, 1), got {self.alpha}")
        if self.sensitivity < 0 or self.min_volume < 1 or self.floor_rate <= 0:
            raise ValueError(
                "AnomalyConfig needs sensitivity >= 0, min_volume >= 1 and floor_rate > 0"
            )
        if not 0 <= self.trim < 1:
            raise ValueError(f"AnomalyConfig.trim must be in [0, 1), got {self.trim}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The detector's answer for one count, with the numbers it decided on."""

    state: AnomalyState
    observed: int
    expected: float
    upper_band: float
    p_value: float

    @property
    def anomalous(self) -> bool:
        """Whether the count was flagged."""
        return self.state is AnomalyState.ANOMALOUS


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    below = 0.0
    for i in range(k):  # P(X < k), the shorter sum for the counts that matter here
        below += math.exp(i * math.log(mean) - mean - math.lgamma(i + 1))
    if below < 0.5:
        return 1.0 - below
    # Far in the tail 1 - below loses every digit: sum the tail itself instead.
    tail, i = 0.0, k
    while True:
        term = math.exp(i * math.log(mean) - mean - math.lgamma(i + 1))
        tail += term
        if i > mean and term < tail * 1e-17:
            return tail
        i += 1


def assess(history: Sequence[int], observed: int, config: AnomalyConfig) -> Verdict:
    """The verdict on ``observed`` given the counts before it (oldest first)."""
    if observed < 0:
        raise ValueError(f"an error count cannot be negative, got {observed}")
    recent = list(history[-config.history :])
    if len(recent) < config.warmup:
        return Verdict(AnomalyState.WARMING_UP, observed, 0.0, math.inf, 1.0)
    median = statistics.median(recent)
    spread = _MAD_SCALE * statistics.median(abs(c - median) for c in recent)
    expected = max(median, _trimmed_mean(recent, config.trim), config.floor_rate)
    band = median + config.sensitivity * spread
    p_value = poisson_tail(observed, expected)
    flagged = observed >= config.min_volume and observed > band and p_value < config.alpha
    state = AnomalyState.ANOMALOUS if flagged else AnomalyState.NORMAL
    return Verdict(state, observed, expected, band, p_value)


def scan(series: Sequence[int], config: AnomalyConfig) -> list[Verdict]:
    """The verdict on every count of ``series``, each judged on the counts before it."""
    start = config.history
    return [assess(series[max(0, i - start) : i], count, config) for i, count in enumerate(series)]


def _trimmed_mean(values: list[int], share: float) -> float:
    ordered = sorted(values)
    keep = max(1, len(ordered) - int(len(ordered) * share))
    return sum(ordered[:keep]) / keep
