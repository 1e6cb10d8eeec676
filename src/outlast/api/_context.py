"""What one API application holds: its settings, its Redis link and how it opens the store.

Everything is made on first use, so building the application reads nothing and connects
to nothing; an application's settings are fixed from then on. The link has its own short
timeout (``api_check_timeout``) so a Redis that does not answer costs a request that long.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from outlast.api._fresh import Fresh
from outlast.config import Settings, get_circuit_breaker_config, get_settings
from outlast.config._api import ApiSettings, ApiToken, get_api_settings
from outlast.monitoring import ErrorMonitor
from outlast.recovery import RecoveryStatistics
from outlast.resilience import CircuitBreaker, RedisBreakerState
from outlast.resilience.shared._redis_link import RedisLink, link_for
from outlast.store import DEFAULT_REDIS_URL, Store, open_store

__all__ = ["ApiContext"]

log = logging.getLogger("outlast.api")


class ApiContext:
    """The settings and shared clients of one application (``app.state.outlast``)."""

    def __init__(self, api: ApiSettings | None = None, core: Settings | None = None) -> None:
        self._api = api
        self._core = core
        self._lock = threading.Lock()
        self._link: RedisLink | None = None
        self._monitor: ErrorMonitor | None = None
        self._tokens: list[ApiToken] | None = None
        self._breakers: dict[str, CircuitBreaker] = {}
        self._fresh: Fresh | None = None

    @property
    def api(self) -> ApiSettings:
        """The API's settings (read from the environment on first use unless given)."""
        if self._api is None:
            self._api = get_api_settings()
        return self._api

    @property
    def core(self) -> Settings:
        """The core settings: Redis, store, broker, namespace."""
        if self._core is None:
            self._core = get_settings()
        return self._core

    @property
    def timeout(self) -> float:
        """How long any one dependency may take to answer."""
        return self.api.api_check_timeout

    @property
    def redis_url(self) -> str:
        """The Redis every process shares state through."""
        return self.core.redis_url or DEFAULT_REDIS_URL

    @property
    def fresh(self) -> Fresh:
        """Slow reads kept for ``api_cache_seconds``."""
        if self._fresh is None:
            self._fresh = Fresh(self.api.api_cache_seconds)
        return self._fresh

    @property
    def tokens(self) -> list[ApiToken]:
        """The accepted tokens (parsed once)."""
        if self._tokens is None:
            try:
                self._tokens = self.api.tokens()
            except ValueError as error:
                log.error("no token accepted, every caller is refused: %s", error)
                self._tokens = []
        return self._tokens

    @property
    def link(self) -> RedisLink:
        """This application's Redis link, with the API's timeout."""
        with self._lock:
            if self._link is None:
                self._link = RedisLink(
                    self.redis_url,
                    namespace=self.core.namespace,
                    socket_timeout=self.timeout,
                    retry_interval=min(1.0, self.timeout),
                )
            return self._link

    @property
    def monitor(self) -> ErrorMonitor:
        """A reader of the shared error statistics (it records nothing)."""
        with self._lock:
            if self._monitor is None:
                self._monitor = ErrorMonitor(
                    redis_url=self.redis_url,
                    namespace=self.core.namespace,
                    open_store=self.open_store,
                    store_events=False,
                )
            return self._monitor

    def cluster_breaker(self, name: str) -> CircuitBreaker:
        """The cluster breaker ``name`` on this application's Redis (made once)."""
        with self._lock:
            breaker = self._breakers.get(name)
        if breaker is not None:
            return breaker
        config = get_circuit_breaker_config(name)
        link = link_for(self.redis_url, self.core.namespace)
        backend = RedisBreakerState(
            name, config=config, link=link, down_policy=self.core.redis_down_policy
        )
        with self._lock:
            return self._breakers.setdefault(
                name, CircuitBreaker(name, config=config, backend=backend)
            )

    def breaker_stats(self) -> dict[str, dict[str, Any]]:
        """The cluster breakers this application moved, as ``stats()`` reports them."""
        with self._lock:
            breakers = list(self._breakers.values())
        return {b.name: {k: getattr(v, "value", v) for k, v in b.stats().items()} for b in breakers}

    def statistics(self) -> RecoveryStatistics:
        """The recovery statistics every process shares."""
        return RecoveryStatistics(self.link)

    def open_store(self) -> Store:
        """A new client of the configured store (the caller closes it)."""
        return open_store(self.core)

    def close(self) -> None:
        """Drop the link's connections and the monitor's (at shutdown). The cluster
        breakers stay: they share the process's link with every other breaker."""
        with self._lock:
            link, self._link = self._link, None
            monitor, self._monitor = self._monitor, None
        if link is not None:
            link.close()
        if monitor is not None:
            monitor.close()

    def describe(self) -> dict[str, Any]:
        """Where the application reads from, without secrets (for the startup log)."""
        return {"namespace": self.core.namespace, "tokens": len(self.tokens)}
