"""The delay schedule of a RetryConfig: exact strategies, the cap, and the jitter modes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlast.config import Jitter, RetryConfig, RetryStrategy
from outlast.resilience.retry._backoff import Backoff, base_delay


def _config(
    strategy: RetryStrategy,
    *,
    initial_delay: float = 1.0,
    backoff_factor: float = 2.0,
    max_delay: float = 1000.0,
    jitter: Jitter = Jitter.NONE,
) -> RetryConfig:
    return RetryConfig(
        strategy=strategy,
        initial_delay=initial_delay,
        backoff_factor=backoff_factor,
        max_delay=max_delay,
        jitter=jitter,
    )


def _schedule(config: RetryConfig, attempts: int) -> list[float]:
    return [base_delay(config, n) for n in range(1, attempts + 1)]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RetryStrategy.FIXED_DELAY, [1.0, 1.0, 1.0, 1.0, 1.0]),
        (RetryStrategy.EXPONENTIAL_BACKOFF, [1.0, 2.0, 4.0, 8.0, 16.0]),
        (RetryStrategy.LINEAR_BACKOFF, [1.0, 2.0, 3.0, 4.0, 5.0]),
        (RetryStrategy.FIBONACCI_BACKOFF, [1.0, 1.0, 2.0, 3.0, 5.0]),
    ],
)
def test_each_strategy_follows_its_exact_schedule(
    strategy: RetryStrategy, expected: list[float]
) -> None:
    """With d=1 and f=2 each strategy yields its textbook sequence of delays."""
    assert _schedule(_config(strategy), 5) == expected


def test_schedules_scale_with_the_initial_delay() -> None:
    """Every strategy multiplies its sequence by initial_delay (here 0.5, factor 3)."""
    exponential = _config(RetryStrategy.EXPONENTIAL_BACKOFF, initial_delay=0.5, backoff_factor=3)
    fibonacci = _config(RetryStrategy.FIBONACCI_BACKOFF, initial_delay=0.5)
    assert _schedule(exponential, 4) == [0.5, 1.5, 4.5, 13.5]
    assert _schedule(fibonacci, 6) == [0.5, 0.5, 1.0, 1.5, 2.5, 4.0]


@pytest.mark.parametrize("strategy", list(RetryStrategy))
def test_max_delay_caps_every_strategy(strategy: RetryStrategy) -> None:
    """Once the schedule reaches max_delay it stays there, for every strategy."""
    config = _config(strategy, initial_delay=3.0, max_delay=7.0)
    delays = _schedule(config, 8)
    assert max(delays) <= 7.0
    if strategy is not RetryStrategy.FIXED_DELAY:
        assert delays[-1] == 7.0


def test_initial_delay_above_the_cap_is_capped() -> None:
    """An initial delay larger than max_delay is cut down to max_delay."""
    assert base_delay(_config(RetryStrategy.FIXED_DELAY, initial_delay=9, max_delay=2), 1) == 2


@pytest.mark.parametrize("strategy", list(RetryStrategy))
@pytest.mark.parametrize("attempt", [1024, 10**6, 10**400])
def test_huge_attempt_numbers_never_overflow(strategy: RetryStrategy, attempt: int) -> None:
    """Attempt numbers far past any float range give max_delay, not OverflowError."""
    config = _config(strategy, max_delay=60.0)
    expected = 1.0 if strategy is RetryStrategy.FIXED_DELAY else 60.0
    assert base_delay(config, attempt) == expected


def test_tiny_initial_delay_with_huge_cap_never_overflows() -> None:
    """A subnormal initial delay whose power overflows alone still yields a capped delay."""
    config = _config(
        RetryStrategy.EXPONENTIAL_BACKOFF, initial_delay=5e-324, max_delay=1e300, backoff_factor=2
    )
    assert 0 < base_delay(config, 1500) <= 1e300


def test_zero_initial_delay_means_no_wait() -> None:
    """initial_delay=0 retries immediately, whatever the strategy or jitter."""
    for strategy in RetryStrategy:
        for jitter in Jitter:
            backoff = Backoff(_config(strategy, initial_delay=0.0, jitter=jitter))
            assert [backoff.next_delay(n) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]


def test_no_jitter_returns_the_exact_schedule() -> None:
    """Jitter.NONE passes base_delay through unchanged."""
    config = _config(RetryStrategy.EXPONENTIAL_BACKOFF)
    backoff = Backoff(config)
    assert [backoff.next_delay(n) for n in (1, 2, 3)] == _schedule(config, 3)


def test_full_jitter_stays_within_zero_and_the_delay() -> None:
    """FULL draws U(0, v): every delay lies in [0, v] and they are not all equal."""
    config = _config(RetryStrategy.EXPONENTIAL_BACKOFF, jitter=Jitter.FULL)
    backoff = Backoff(config, rng=random.Random(7))
    for attempt in (1, 2, 3, 4, 5):
        value = base_delay(config, attempt)
        draws = [backoff.next_delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= value for d in draws)
        assert len(set(draws)) > 1
        assert min(draws) < value / 2 < max(draws)


def test_equal_jitter_keeps_at_least_half_the_delay() -> None:
    """EQUAL draws v/2 + U(0, v/2): every delay lies in [v/2, v]."""
    config = _config(RetryStrategy.LINEAR_BACKOFF, jitter=Jitter.EQUAL)
    backoff = Backoff(config, rng=random.Random(11))
    for attempt in (1, 2, 3, 4):
        value = base_delay(config, attempt)
        draws = [backoff.next_delay(attempt) for _ in range(200)]
        assert all(value / 2 <= d <= value for d in draws)
        assert len(set(draws)) > 1


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    """DECORRELATED draws min(cap, U(initial, previous * 3)), starting from previous = initial."""
    config = _config(RetryStrategy.EXPONENTIAL_BACKOFF, jitter=Jitter.DECORRELATED, max_delay=50)
    backoff = Backoff(config, rng=random.Random(3))
    previous = config.initial_delay
    for attempt in range(1, 40):
        delay = backoff.next_delay(attempt)
        assert config.initial_delay <= delay <= min(50.0, previous * 3)
        previous = delay


def test_decorrelated_state_is_per_backoff_not_shared() -> None:
    """Two interleaved Backoffs with equal seeds produce the same sequence (no shared state)."""
    config = _config(RetryStrategy.EXPONENTIAL_BACKOFF, jitter=Jitter.DECORRELATED)
    first, second = Backoff(config, rng=random.Random(5)), Backoff(config, rng=random.Random(5))
    interleaved = [(first.next_delay(n), second.next_delay(n)) for n in range(1, 10)]
    assert all(a == b for a, b in interleaved)


def test_seeded_rng_makes_jitter_reproducible() -> None:
    """The same seed gives the same jittered schedule."""
    config = _config(RetryStrategy.EXPONENTIAL_BACKOFF, jitter=Jitter.FULL)
    runs = [Backoff(config, rng=random.Random(42)) for _ in range(2)]
    assert [runs[0].next_delay(n) for n in range(1, 6)] == [
        runs[1].next_delay(n) for n in range(1, 6)
    ]


configs = st.builds(
    RetryConfig,
    initial_delay=st.floats(min_value=0, max_value=1e6),
    max_delay=st.floats(min_value=0, max_value=1e6),
    backoff_factor=st.floats(min_value=1, max_value=1e3),
    strategy=st.sampled_from(list(RetryStrategy)),
    jitter=st.sampled_from(list(Jitter)),
)
attempt_numbers = st.integers(min_value=1, max_value=10**6) | st.integers(min_value=1)


@given(
    config=configs, attempts=st.lists(attempt_numbers, min_size=1, max_size=20), seed=st.integers()
)
def test_every_delay_lies_between_zero_and_max_delay(
    config: RetryConfig, attempts: list[int], seed: int
) -> None:
    """For any config, jitter mode and attempt sequence, each delay is in [0, max_delay]."""
    backoff = Backoff(config, rng=random.Random(seed))
    for attempt in attempts:
        assert 0.0 <= backoff.next_delay(attempt) <= config.max_delay


@given(config=configs, attempt=attempt_numbers)
def test_growing_strategies_never_shrink_without_jitter(config: RetryConfig, attempt: int) -> None:
    """Without jitter the delay after attempt n+1 is at least the delay after attempt n."""
    assert base_delay(config, attempt) <= base_delay(config, attempt + 1)
