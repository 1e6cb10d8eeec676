"""The settings of the health API that ``outlast api`` serves (``OUTLAST_API_*`` and tokens).

Callers present ``Authorization: Bearer <token>``. ``OUTLAST_ADMIN_TOKENS`` lists the tokens
that may read and act (replay, purge, acknowledge, trip); ``OUTLAST_READ_TOKENS`` those that
may only read. Each list is comma-separated; each entry is ``[name=]token`` where ``token`` is
the token itself or ``sha256:<64 hex>``, the SHA-256 digest of it (so the configuration need
not hold the secret). ``name`` is what the audit record of an admin action says did it
(default: ``token-`` and the first 8 hex digits of the token's digest, which identify it
without revealing it). With no token configured every protected endpoint refuses everyone.

Read only where the API runs; the tokens are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, loader

__all__ = ["ApiSettings", "ApiToken", "get_api_settings", "parse_tokens"]

Role = Literal["admin", "read"]

_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One accepted token: the SHA-256 digest of its text, its role and its name."""

    digest: bytes
    role: Role
    name: str

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, role={self.role!r})"


def parse_tokens(text: str | None, role: Role) -> list[ApiToken]:
    """The tokens of one comma-separated list; ValueError (naming no secret) if one is bad."""
    tokens: list[ApiToken] = []
    for position, entry in enumerate((text or "").split(","), start=1):
        entry = entry.strip()
        if entry:
            tokens.append(_parse_entry(entry, role, position))
    return tokens


def _parse_entry(entry: str, role: Role, position: int) -> ApiToken:
    name, separator, secret = entry.partition("=")
    if not separator:
        name, secret = "", entry
    elif not _NAME.fullmatch(name):
        raise ValueError(f"entry {position}: a token name is 1-64 of A-Z a-z 0-9 _ . @ -")
    if not secret:
        raise ValueError(f"entry {position} has an empty token")
    hashed = _HASHED.fullmatch(secret)
    if hashed:
        digest = bytes.fromhex(hashed.group(1))
    elif secret.startswith("sha256:"):
        raise ValueError(f"entry {position}: sha256: must be followed by 64 hex digits")
    else:
        digest = hashlib.sha256(secret.encode()).digest()
    return ApiToken(digest=digest, role=role, name=name or f"token-{digest.hex()[:8]}")


class ApiSettings(SettingsBase):
    """Where the API listens, who may call it, how long a dependency check may take
    (``api_check_timeout``), how many active alerts the report lists (``api_alert_limit``),
    and how long the report reuses its slow reads: the published snapshots and the error
    statistics (``api_cache_seconds``; 0 reads them on every request)."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    admin_tokens: SecretStr | None = None
    read_tokens: SecretStr | None = None
    api_check_timeout: float = Field(default=1.0, gt=0, le=30)
    api_alert_limit: int = Field(default=100, ge=1, le=10000)
    api_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    _api_host = field_validator("api_host")(checks.host_name)

    def tokens(self) -> list[ApiToken]:
        """Every accepted token, admin ones first; ValueError (naming the variable and the
        entry's position, never its text) when one is malformed.

        The lists are checked here rather than when the settings load, because a settings
        error quotes the value it refused, and these values are secrets."""
        admin = self.admin_tokens.get_secret_value() if self.admin_tokens else None
        read = self.read_tokens.get_secret_value() if self.read_tokens else None
        return _parsed("OUTLAST_ADMIN_TOKENS", admin, "admin") + _parsed(
            "OUTLAST_READ_TOKENS", read, "read"
        )


def _parsed(variable: str, text: str | None, role: Role) -> list[ApiToken]:
    try:
        return parse_tokens(text, role)
    except ValueError as error:
        raise ValueError(f"{variable}: {error}") from None


get_api_settings = loader(ApiSettings)
"""The process's API settings, read on first use; SettingsError if one is wrong."""
