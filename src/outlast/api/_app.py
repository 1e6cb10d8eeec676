"""``create_app``: the FastAPI application with every route, its context and its docs.

Building it reads no settings and opens no connection; the first request (or startup)
reads them, so ``outlast.api:app`` is cheap to import and tests pass their own settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from outlast.api._context import ApiContext
from outlast.api.routes import ROUTERS
from outlast.config import Settings
from outlast.config._api import ApiSettings

__all__ = ["create_app"]

log = logging.getLogger("outlast.api")

DESCRIPTION = """The cluster's error-handling health, the Kubernetes probes, and the admin
actions on dead letters, alerts and circuit breakers.

Send `Authorization: Bearer <token>`: a token of `OUTLAST_READ_TOKENS` reads, one of
`OUTLAST_ADMIN_TOKENS` also acts. `/health/live` and `/health/ready` need no token."""


def create_app(settings: ApiSettings | None = None, *, core: Settings | None = None) -> FastAPI:
    """The application; ``settings`` and ``core`` default to the process's settings."""
    context = ApiContext(settings, core)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not context.tokens:
            log.warning("no OUTLAST_ADMIN_TOKENS or OUTLAST_READ_TOKENS: every protected "
                        "endpoint refuses every caller")  # fmt: skip
        yield
        context.close()

    app = FastAPI(title="Outlast", description=DESCRIPTION, lifespan=lifespan)
    app.state.outlast = context
    for router in ROUTERS:
        app.include_router(router)
    return app
