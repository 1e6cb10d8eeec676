"""Bearer tokens: who is calling, and whether they may read or act.

The presented token is hashed with SHA-256 and compared with every configured digest by
``hmac.compare_digest`` (constant time, and all of them every time, so timing says nothing
about which matched). Missing or wrong: 401 with ``WWW-Authenticate: Bearer``; a read-only
token on an admin action: 403. With no token configured every caller is refused. A token
is never logged or echoed; only its configured name is.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from outlast.api._context import ApiContext
from outlast.config._api import ApiToken

__all__ = ["AdminCaller", "Caller", "ReadCaller", "match_token", "require_admin", "require_read"]

_bearer = HTTPBearer(auto_error=False, description="A token of OUTLAST_ADMIN_TOKENS or _READ_")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the configured name of its token and its role."""

    name: str
    role: str


def match_token(presented: str, tokens: list[ApiToken]) -> ApiToken | None:
    """The configured token ``presented`` is, compared in constant time; None if none."""
    digest = hashlib.sha256(presented.encode()).digest()
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(digest, token.digest) and found is None:
            found = token
    return found


def context_of(request: Request) -> ApiContext:
    """The application's :class:`ApiContext`."""
    context: ApiContext = request.app.state.outlast
    return context


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required", _CHALLENGE)
    token = match_token(credentials.credentials, context_of(request).tokens)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the bearer token is not accepted",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Caller(name=token.name, role=token.role)


def require_read(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """Any accepted token (read-only or admin)."""
    return _authenticate(request, credentials)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """An admin token; a read-only one gets 403."""
    caller = _authenticate(request, credentials)
    if caller.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this action needs an admin token")
    return caller


ReadCaller = Annotated[Caller, Depends(require_read)]
AdminCaller = Annotated[Caller, Depends(require_admin)]
