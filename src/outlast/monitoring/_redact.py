"""Redaction: secrets, tokens, passwords and card numbers never leave the process.

Applied to every message before it is normalized, stored or counted. A value after a
secret-looking key (``password=``, ``token:``, ``api_key=``...), an ``Authorization``
credential, a JWT, a known token format, the password of a URL and a card number that
passes the Luhn check each become ``[REDACTED]``.

Pure text in, text out: this module never logs what it removes.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["REDACTED", "redact"]

REDACTED: Final = "[REDACTED]"

_SECRET_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|token|access[_-]?token"
    r"|refresh[_-]?token|id[_-]?token|auth[_-]?token|api[_-]?key|apikey|private[_-]?key"
    r"|session[_-]?id|sessionid|cookie|credentials?|authorization|signature"
)
# Matched against the lower-cased message (case-insensitive patterns are several times
# slower); the spans found are replaced in the original.
_KEY_VALUE: Final = re.compile(
    rf"((?:{_SECRET_KEYS})[\w-]*[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&)]+)"
)
_KEY_STEMS: Final = (
    "pass", "pwd", "secret", "token", "key", "session", "cookie", "credential", "auth",
    "signature", "bearer", "basic", "digest",
)  # fmt: skip
"""Every secret key and credential scheme above contains one of these (lower case)."""
_ANY_STEM: Final = re.compile("|".join(_KEY_STEMS))
_SCHEME_CREDENTIAL: Final = re.compile(r"\b(?:bearer|basic|token|digest)\s+([a-z0-9._~+/=-]{6,})")
# (trigger, pattern): a pattern runs only on messages holding its trigger.
_PATTERNS: Final = (
    ("eyJ", re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")),  # JWT
    ("_live_", re.compile(r"\b(?:sk|pk|rk)_live_[A-Za-z0-9]{8,}")),  # Stripe-style keys
    ("_test_", re.compile(r"\b(?:sk|pk|rk)_test_[A-Za-z0-9]{8,}")),
    ("gh", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),  # GitHub tokens
    ("xox", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),  # Slack tokens
    ("AKIA", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),  # AWS access key ids
)
_MANY_DIGITS: Final = re.compile(r"(?:\d\D?){13}")
_URL_PASSWORD: Final = re.compile(r"(://[^/\s:@]+):[^@\s/]+@")
_CARD: Final = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def redact(message: str) -> str:
    """``message`` with every secret it carries replaced by ``[REDACTED]``."""
    text = message
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    if _ANY_STEM.search(text.lower()) is not None:
        text = _replace_group(text, _SCHEME_CREDENTIAL, 1)
        text = _replace_group(text, _KEY_VALUE, 2)
    for trigger, pattern in _PATTERNS:
        if trigger in text:
            text = pattern.sub(REDACTED, text)
    if _may_hold_card(text):
        text = _CARD.sub(_card_replacement, text)
    return text


_ASCII_DIGITS: Final = b"0123456789"
_CARD_DIGITS: Final = 13


def _may_hold_card(text: str) -> bool:
    """Whether ``text`` has a run of digits a card number could be (13 digits, at most
    one other character between two). An ASCII text with fewer than 13 digits cannot:
    counting them is several times cheaper than the search."""
    if text.isascii():
        digits = len(text) - len(text.encode().translate(None, _ASCII_DIGITS))
        if digits < _CARD_DIGITS:
            return False
    return _MANY_DIGITS.search(text) is not None


def _replace_group(text: str, pattern: re.Pattern[str], group: int) -> str:
    """``text`` with ``group`` of every match of ``pattern`` in its lower case redacted."""
    lower = text.lower()
    if len(lower) != len(text):  # lower-casing moved positions (rare non-ASCII letters)
        return pattern.sub(lambda m: m.group()[: m.start(group) - m.start()] + REDACTED, lower)
    parts, last = [], 0
    for match in pattern.finditer(lower):
        start, end = match.span(group)
        parts += [text[last:start], REDACTED]
        last = end
    return "".join(parts) + text[last:] if parts else text


def _card_replacement(match: re.Match[str]) -> str:
    digits = [int(c) for c in match.group() if c.isdigit()]
    return REDACTED if _luhn_valid(digits) else match.group()


def _luhn_valid(digits: list[int]) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
