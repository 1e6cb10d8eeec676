"""Message parameterization: the variable parts of an error message become placeholders.

Two messages that differ only in an email, URL, host, IP, UUID, hash, hex value, date,
duration, number or a quoted value after ``=`` normalize to the same text, so they group
under one fingerprint. The kinds are tried in that order (as Sentry's parameterization
does), as one combined pattern: at each position the first kind that matches wins.

Pure text in, text out: this module never sees an exception or does I/O.
"""

from __future__ import annotations

import functools
import re
from typing import Final

__all__ = ["PARAMETER_KINDS", "parameterize"]

_TLDS = (
    "com|net|org|io|dev|app|edu|gov|mil|int|info|biz|co|us|uk|de|fr|jp|cn|ru|br|in|it|nl|es"
    "|au|ca|ch|se|no|fi|dk|pl|cz|at|be|eu|local|internal|localdomain|cloud|ai|me|tv|xyz"
)
_MONTH = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DAY = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"

Variant = tuple[tuple[str, ...], str]
"""One form of a kind: the substrings one of which a message must hold for it to match
(empty: any message), and its pattern."""

_ANY: Final[tuple[str, ...]] = ()
_MONTHS: Final = tuple(_MONTH.split("|"))

_KINDS: Final[tuple[tuple[str, tuple[Variant, ...]], ...]] = (
    ("email", ((("@",), r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),)),
    ("url", ((("://",), r"\b[A-Za-z][A-Za-z0-9+.-]*+://[^\s'\"<>]++"),)),
    (
        "hostname",
        (((".",), rf"\b(?:[A-Za-z0-9-]{{1,63}}+\.)+(?:{_TLDS})\b"),),
    ),
    (
        "ip",
        (
            ((".",), r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
            (
                ("::",),
                r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?",
            ),
            (("::",), r"(?<![\w:])::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?![\w:])"),
            ((":",), r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"),
        ),
    ),
    ("traceparent", ((("00-",), r"\b00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b"),)),
    (
        "uuid",
        (
            (
                ("-",),
                r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b",
            ),
        ),
    ),
    ("sha1", ((_ANY, r"\b[0-9A-Fa-f]{40}\b"),)),
    ("md5", ((_ANY, r"\b[0-9A-Fa-f]{32}\b"),)),
    (
        "date",
        (
            (
                ("-",),
                r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?",
            ),
            (
                _MONTHS,
                rf"\b(?:(?:{_DAY}),? )?\d{{1,2}} (?:{_MONTH}) \d{{4}} \d{{2}}:\d{{2}}:\d{{2}}"
                r"(?: ?(?:[A-Z]{2,4}|[+-]\d{4}))?",
            ),
            (_MONTHS, rf"\b(?:{_DAY}) (?:{_MONTH}) \d{{1,2}} \d{{2}}:\d{{2}}:\d{{2}}(?: \d{{4}})?"),
            (("datetime(",), r"datetime\.datetime\([^)]*\)"),
            ((":",), r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?[AaPp][Mm])?\b"),
        ),
    ),
    ("duration", ((("ms", "s"), r"\b\d+(?:\.\d+)?(?:ms|s)\b"),)),
    (
        "hex",
        (
            (("0x", "0X"), r"\b0[xX][0-9A-Fa-f]+\b"),
            (_ANY, r"\b(?=[0-9A-Fa-f]*\d)(?:[0-9a-f]{8,128}|[0-9A-F]{8,128})\b"),
        ),
    ),
    ("git_sha", ((_ANY, r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7}\b"),)),
    ("float", (((".",), r"(?<![\w.])-?\d+\.\d+\b"),)),
    ("int", ((_ANY, r"(?<![\w.])-?\d{1,7}\b|(?<=_)\d+\b"),)),
    ("quoted_str", ((("=",), r"(?<==)(?:'[^']*'|\"[^\"]*\")"),)),
    ("bool", ((("=",), r"(?<==)(?:[Tt]rue|[Ff]alse)\b"),)),
)

PARAMETER_KINDS: Final = tuple(name for name, _ in _KINDS)
"""The kinds of value replaced, in the order they are tried."""

# Every kind but email, URL, hostname, quoted_str and bool (and IPv6 with "::") needs a
# digit; every form of a kind needs one of its substrings. The pattern is built from the
# forms a message can hold: the same result, several times faster.
_WITHOUT_DIGITS: Final = frozenset({"email", "url", "hostname", "quoted_str", "bool"})
_DIGIT: Final = re.compile(r"\d")
_FORMS: Final = tuple(
    (k, v, name not in _WITHOUT_DIGITS and needs != ("::",), needs)
    for k, (name, forms) in enumerate(_KINDS)
    for v, (needs, _) in enumerate(forms)
)
_TRIGGERS: Final = tuple(sorted({t for *_, needs in _FORMS for t in needs}))


def _possible(message: str) -> tuple[tuple[int, int], ...]:
    """(kind index, form index) of every form that can match ``message``."""
    present = frozenset(t for t in _TRIGGERS if t in message)
    return _forms_for(_DIGIT.search(message) is not None, present)


@functools.lru_cache(maxsize=512)
def _forms_for(digits: bool, present: frozenset[str]) -> tuple[tuple[int, int], ...]:
    return tuple(
        (kind, form)
        for kind, form, needs_digit, needs in _FORMS
        if (digits or not needs_digit) and (not needs or not present.isdisjoint(needs))
    )


@functools.lru_cache(maxsize=512)
def _pattern(chosen: tuple[tuple[int, int], ...]) -> re.Pattern[str]:
    groups: dict[int, list[str]] = {}
    for k, v in chosen:
        groups.setdefault(k, []).append(_KINDS[k][1][v][1])
    return re.compile(
        "|".join(f"(?P<{_KINDS[k][0]}>{'|'.join(forms)})" for k, forms in groups.items())
    )


def _placeholder(match: re.Match[str]) -> str:
    return f"<{match.lastgroup}>"


# Only these values can hold a space: dates written with one (ISO with a space, RFC and
# ctime forms, "3:04 PM", datetime.datetime(...)) and quoted values after "=". A message
# without them is parameterized word by word, skipping plain words: the same result (no
# pattern looks past a space), several times faster.
_SPANS_SPACES: Final = re.compile(r"\d \d|\d ?[AaPp][Mm]\b|datetime\(|=['\"]|" + "|".join(_MONTHS))
_DIGIT_SPACES: Final = re.compile(r"\d(?: \d| ?[AaPp][Mm]\b)")
_LITERAL_SPANS: Final = re.compile(r"datetime\(|=['\"]|" + "|".join(_MONTHS))


def spans_spaces(message: str) -> bool:
    """Whether ``_SPANS_SPACES`` is found in ``message``: its literal alternatives and its
    digit ones searched by two patterns (together about twice as fast as the one combined
    pattern)."""
    if _LITERAL_SPANS.search(message) is not None:
        return True
    return _DIGIT_SPACES.search(message) is not None


def parameterize(message: str) -> str:
    """``message`` with each variable value replaced by ``<kind>`` (``<email>``, ``<int>``...)."""
    if spans_spaces(message):
        return _parameterize_whole(message)
    return " ".join(_parameterize_word(w) for w in message.split(" "))


@functools.lru_cache(maxsize=8192)  # words repeat across messages (hosts, keys, units)
def _parameterize_word(word: str) -> str:
    if word.isalpha():
        return word
    if word.isdigit() and word.isascii() and len(word) <= _MAX_INT_DIGITS:
        return "<int>"  # what the patterns make of it, without running them
    return _parameterize_whole(word)


_MAX_INT_DIGITS: Final = 7  # from 8 digits on, a number reads as hex (as Sentry's does)


def _parameterize_whole(message: str) -> str:
    chosen = _possible(message)
    return _pattern(chosen).sub(_placeholder, message) if chosen else message
