"""Every route of the API against every kind of caller: none, wrong, read-only, admin,
and an admin token configured by its SHA-256 digest.

Public probes answer everyone; read routes answer any accepted token and refuse the rest
with 401 and ``WWW-Authenticate: Bearer``; admin routes also refuse a read-only token with
403. An admin route's request targets nothing that exists, so an accepted caller gets past
authentication to a 404 (or 400), never a 2xx that changed anything.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from _api_support import TOKENS, auth

# (method, path, role) for every route; paths name things that do not exist.
ROUTES = [
    ("GET", "/health/live", "public"),
    ("GET", "/health/ready", "public"),
    ("GET", "/family/health/error-handling", "read"),
    ("GET", "/admin/dead-letters", "read"),
    ("GET", "/admin/dead-letters/no-such-letter", "read"),
    ("POST", "/admin/dead-letters/no-such-letter/replay", "admin"),
    ("DELETE", "/admin/dead-letters", "admin"),
    ("GET", "/admin/alerts", "read"),
    ("POST", "/admin/alerts/no-such-alert/acknowledge", "admin"),
    ("POST", "/admin/alerts/no-such-alert/resolve", "admin"),
    ("POST", "/admin/alerts/no-such-alert/silence", "admin"),
    ("GET", "/admin/breakers", "read"),
    ("POST", "/admin/breakers/no-such-breaker/trip", "admin"),
    ("POST", "/admin/breakers/no-such-breaker/reset", "admin"),
    ("GET", "/admin/audit", "read"),
    ("GET", "/metrics", "read"),
]

ALLOWED = {
    "public": set(TOKENS),
    "read": {"read", "admin", "hashed"},
    "admin": {"admin", "hashed"},
}


def expected_refusal(role: str, caller: str) -> int | None:
    """The status a caller must get on a route of ``role``, or None if it is let through."""
    if caller in ALLOWED[role]:
        return None
    return 403 if caller == "read" and role == "admin" else 401


def test_route_table_covers_every_route(app: FastAPI) -> None:
    """The matrix lists every route the OpenAPI page documents (a new route must join it)."""
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    listed = {(method, _template(path)) for method, path, _ in ROUTES}
    assert documented == listed


def _template(path: str) -> str:
    replaced = {
        "no-such-letter": "{letter_id}",
        "no-such-alert": "{alert_id}",
        "no-such-breaker": "{name}",
    }
    return "/".join(replaced.get(part, part) for part in path.split("/"))


@pytest.mark.parametrize(("method", "path", "role"), ROUTES)
@pytest.mark.parametrize("caller", list(TOKENS))
async def test_auth_matrix(
    client: httpx.AsyncClient, method: str, path: str, role: str, caller: str
) -> None:
    """Each caller gets in exactly where its role allows; refusals say 401/403 properly."""
    response = await client.request(method, path, headers=auth(TOKENS[caller]))
    refusal = expected_refusal(role, caller)
    if refusal is None:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == refusal, response.text
        if refusal == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        token = TOKENS[caller]
        assert token is None or token not in response.text
