"""A loopback TCP proxy to a Redis that can silently freeze the connections consuming.

``FreezingProxy(upstream_port)`` listens on a free 127.0.0.1 port and forwards each
connection to the Redis at ``upstream_port``. ``freeze_consumers()`` makes every open
connection that has sent a ``BRPOP`` a black hole: nothing it sends or receives is
forwarded any more, and neither end is told (no FIN, no RST), as with a half-dead
connection after a failover or a NAT timeout. Connections opened later are forwarded
normally, unless asked to freeze those too at their first BRPOP. Threads of this process
run it; ``stop()`` closes every socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

__all__ = ["FreezingProxy"]

_HOST = "127.0.0.1"
_CHUNK = 65536


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.consuming = False
        self.frozen = False

    def close(self) -> None:
        for end in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                end.close()


class FreezingProxy:
    """The proxy: ``url`` to connect through, ``freeze_consumers()``, ``stop()``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server((_HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"redis://{_HOST}:{self.port}/0"
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._freeze_later = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def freeze_consumers(self, *, from_now_on: bool = False) -> int:
        """Black-hole every open connection that has sent a BRPOP; how many. With
        ``from_now_on`` every later connection is black-holed at its first BRPOP too."""
        self._freeze_later = from_now_on
        with self._lock:
            chosen = [link for link in self._links if link.consuming and not link.frozen]
            for link in chosen:
                link.frozen = True
        return len(chosen)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection((_HOST, self.upstream_port))
            except OSError:
                return
            link = _Link(client, upstream)
            with self._lock:
                self._links.append(link)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(link, source, sink), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                if source is link.client and b"BRPOP" in data.upper():
                    link.consuming = True
                    link.frozen = link.frozen or self._freeze_later
                if not link.frozen:
                    sink.sendall(data)
        except OSError:
            pass
        if not link.frozen:  # a frozen link tells neither end anything
            link.close()

    def __enter__(self) -> FreezingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
