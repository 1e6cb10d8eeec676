"""Label matchers and time-bounded silences, as Alertmanager has them.

A :class:`Matcher` is ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``
(the regex matches the whole value; a missing label matches as the empty string). A
:class:`Silence` mutes every alert whose labels match all its matchers from ``starts_at``
until ``ends_at``: a muted alert is neither notified nor escalated, but stays active.

Silences are stored as store snapshots of kind ``alert_silence``, timed at their end (so
every process sees them, they survive a restart, and the store keeps them until they end
plus its retention). Pure except for the two conversions to and from a snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from outlast.store import Snapshot

__all__ = ["SILENCE_KIND", "Matcher", "Silence", "matches_all", "silenced"]

SILENCE_KIND: Final = "alert_silence"
_OPERATORS = ("=~", "!~", "!=", "=")
_SPLIT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label."""

    name: str
    value: str
    operator: str = "="

    def __post_init__(self) -> None:
        if self.operator not in _OPERATORS:
            raise ValueError(f"matcher operator must be one of {_OPERATORS}, got {self.operator!r}")
        if not self.name:
            raise ValueError("a matcher needs a label name")
        if self.operator in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"matcher {self.name}{self.operator}{self.value!r}: {exc}"
                ) from exc

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """The matcher written ``name=value`` (or ``!=``, ``=~``, ``!~``); quotes optional."""
        found = _SPLIT.match(text)
        if found is None:
            raise ValueError(f"not a matcher: {text!r} (expected e.g. service=payments)")
        name, operator, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return cls(name, value, operator)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this condition."""
        actual = labels.get(self.name, "")
        if self.operator == "=":
            return actual == self.value
        if self.operator == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.operator == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.operator}{self.value}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher."""
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence:
    """Mutes the alerts its matchers match between ``starts_at`` and ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher (it would mute everything)")
        if self.ends_at <= self.starts_at:
            raise ValueError(
                f"a silence must end after it starts, got {self.starts_at} .. {self.ends_at}"
            )

    def active(self, now: float) -> bool:
        """Whether the silence mutes at ``now``."""
        return self.starts_at <= now < self.ends_at

    def to_snapshot(self) -> Snapshot:
        """The store snapshot that keeps this silence."""
        from outlast.store import Snapshot  # loaded on first use: `import outlast` stays light

        data = {
            "matchers": [[m.name, m.operator, m.value] for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }
        # Timed at its end, the snapshot outlives the silence by the store's retention.
        return Snapshot(id=self.id, kind=SILENCE_KIND, taken_at=self.ends_at, data=data)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> Silence:
        """The silence a :meth:`to_snapshot` snapshot keeps."""
        data = snapshot.data
        matchers = tuple(Matcher(name, value, op) for name, op, value in data["matchers"])
        return cls(
            id=snapshot.id,
            matchers=matchers,
            starts_at=float(data["starts_at"]),
            ends_at=float(data["ends_at"]),
            created_by=str(data.get("created_by", "")),
            comment=str(data.get("comment", "")),
        )


def silenced(labels: Mapping[str, str], silences: Sequence[Silence], now: float) -> bool:
    """Whether an active silence mutes an alert with ``labels``."""
    return any(s.active(now) and matches_all(s.matchers, labels) for s in silences)
