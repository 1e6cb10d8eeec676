"""The demo's mail sink: a real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it takes.

It refuses for good (550 at RCPT) the addresses in ``closed`` until ``open_mailbox()`` is
called for one, and records every message it accepts, by recipient. Messages go nowhere
else: it is a sink for the demo, never a relay.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Collection

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["DemoSmtp"]

_HOST = "127.0.0.1"


class _Sink:
    """The aiosmtpd handler: refuses closed mailboxes, records accepted recipients."""

    def __init__(self, closed: Collection[str]) -> None:
        self.lock = threading.Lock()
        self.closed = set(closed)
        self.delivered: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if address in self.closed:
                return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.delivered.extend(envelope.rcpt_tos)
        return "250 2.0.0 message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class DemoSmtp:
    """``start()``, point ``OUTLAST_SMTP_HOST``/``OUTLAST_SMTP_PORT`` at it, ``stop()``."""

    def __init__(self, *, closed: Collection[str] = ()) -> None:
        self._sink = _Sink(closed)
        self.port = _free_port()
        self._controller = Controller(self._sink, hostname=_HOST, port=self.port)

    @property
    def host(self) -> str:
        """The address it listens on."""
        return _HOST

    def delivered(self) -> list[str]:
        """Every recipient of every accepted message, in order."""
        with self._sink.lock:
            return list(self._sink.delivered)

    def open_mailbox(self, address: str) -> None:
        """Accept mail for ``address`` from now on."""
        with self._sink.lock:
            self._sink.closed.discard(address)

    def start(self) -> DemoSmtp:
        """Serve from aiosmtpd's own thread; returns once it answers."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving and join its thread."""
        self._controller.stop()
