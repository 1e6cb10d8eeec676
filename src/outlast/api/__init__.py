"""The health API: ``outlast.api:app`` for any ASGI server, ``create_app()`` for tests.

``GET /family/health/error-handling`` answers the seed's health report for the whole
cluster; ``/health/live`` and ``/health/ready`` are the probes; ``/admin/...`` lists and acts
on dead letters, alerts and circuit breakers. Bearer tokens come from
``OUTLAST_ADMIN_TOKENS`` and ``OUTLAST_READ_TOKENS`` (``outlast.config._api``).

FastAPI is the optional extra ``api``: only this package and ``outlast api`` import it.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401  (checked here so the error names the extra)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the Outlast health API needs FastAPI and uvicorn: pip install "outlast[api]"'
    ) from exc

from outlast.api._app import create_app

__all__ = ["app", "create_app"]

app = create_app()
"""The ASGI application; its settings are read when it first needs them."""
