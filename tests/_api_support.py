"""Tokens and headers the health API tests share: one caller of each kind."""

from __future__ import annotations

__all__ = ["ADMIN_TOKEN", "HASHED_TOKEN", "READ_TOKEN", "TOKENS", "auth"]

ADMIN_TOKEN = "admin-token-for-tests"
READ_TOKEN = "read-token-for-tests"
HASHED_TOKEN = "hashed-admin-token-for-tests"
TOKENS = {
    "none": None,
    "wrong": "not-a-configured-token",
    "read": READ_TOKEN,
    "admin": ADMIN_TOKEN,
    "hashed": HASHED_TOKEN,
}


def auth(token: str | None) -> dict[str, str]:
    """The Authorization header for ``token`` (none for None)."""
    return {} if token is None else {"Authorization": f"Bearer {token}"}
