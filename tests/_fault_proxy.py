"""A TCP fault proxy for tests: loopback, asyncio, in front of one real server.

``FaultProxy(target_port)`` listens on a free 127.0.0.1 port in its own thread and event
loop and forwards every connection to the target, until told otherwise:

- ``"pass"``: forward bytes both ways (the default);
- ``"drop"``: close every open connection, and close new ones as soon as they arrive;
- ``"stall"``: accept connections and swallow their bytes, never answering;
- ``"refuse"``: stop listening, so connecting fails at once (ECONNREFUSED).

Switching back to ``"pass"`` listens again on the same port. ``stop()`` (or leaving
``with``) closes everything and ends the thread. It imports nothing from ``outlast``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Literal

from _servers import free_port

__all__ = ["FaultMode", "FaultProxy"]

FaultMode = Literal["pass", "drop", "stall", "refuse"]

_HOST = "127.0.0.1"


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``, with faults on demand."""

    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode: FaultMode = "pass"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._listen())

    def set_mode(self, mode: FaultMode) -> None:
        """Switch to ``mode`` (see the module docstring); returns once it is in effect."""
        self._run(self._switch(mode))

    def stop(self) -> None:
        """Close the listener and every connection, then end the proxy's thread."""
        if self._loop.is_closed():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- inside the proxy's loop ----------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, _HOST, self.port)

    async def _switch(self, mode: FaultMode) -> None:
        self.mode = mode
        if mode in ("drop", "refuse"):
            self._close_connections()
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif mode != "refuse" and self._server is None:
            await self._listen()

    async def _shutdown(self) -> None:
        self._close_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _close_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels: end quietly so asyncio does not report the connection.
            self._forget(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            writer.close()
            return
        self._writers.add(writer)
        if self.mode == "stall":
            await self._swallow(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(_HOST, self.target_port)
        except OSError:
            self._forget(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._forget(writer)
        self._forget(up_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode != "pass":
                    continue  # stalled: bytes go nowhere
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while await reader.read(65536):
                pass
        self._forget(writer)

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        writer.close()
