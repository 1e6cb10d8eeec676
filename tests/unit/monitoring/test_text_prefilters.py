"""The cheap checks in front of redaction's card search and parameterization's whole-message
path answer exactly as the patterns they stand in front of, on any text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from outlast.monitoring._normalize import _SPANS_SPACES, spans_spaces
from outlast.monitoring._redact import _MANY_DIGITS, _may_hold_card

# Pieces that make the patterns match or nearly match: ASCII and other digits, spaces,
# AM/PM letters, "=" and quotes, month names and datetime(.
PIECES = st.sampled_from(
    ["0", "1", "9", "\u0663", "\uff15", " ", "-", "a", "M", "p", "m", "x", "=", "'", '"',
     "Jan", "Dec", "datetime(", "é", "4111", "1111 1111"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=40).map("".join) | st.text(max_size=60)


@given(TEXTS)
def test_spans_spaces_answers_as_the_combined_pattern(text: str) -> None:
    """spans_spaces(text) is True exactly when the combined pattern is found in text."""
    assert spans_spaces(text) == (_SPANS_SPACES.search(text) is not None)


@given(TEXTS)
def test_the_card_precheck_answers_as_the_digit_run_search(text: str) -> None:
    """_may_hold_card(text) is True exactly when the 13-digit run pattern is found."""
    assert _may_hold_card(text) == (_MANY_DIGITS.search(text) is not None)
