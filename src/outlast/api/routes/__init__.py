"""The API's routes, one module per concept; ``ROUTERS`` is what the application mounts."""

from __future__ import annotations

from outlast.api.routes import alerts, audit, breakers, dead_letters, health, metrics, probes

__all__ = ["ROUTERS"]

ROUTERS = (
    probes.router,
    health.router,
    dead_letters.router,
    alerts.router,
    breakers.router,
    audit.router,
    metrics.router,
)
