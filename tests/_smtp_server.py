"""A real SMTP server on loopback for the email tests: aiosmtpd with scripted replies.

``start_smtp_server()`` runs an aiosmtpd ``Controller`` (its own thread and event loop) on
127.0.0.1, on a free port or the one given, and returns once it answers; ``.stop()`` ends it
(also as a context manager). Its :class:`ScriptedHandler` records every message offered
(each DATA, by Message-ID) and every message accepted, and can be told to answer 421 to the
first ``defer_first`` offers of each Message-ID, 550 to every message (``reject_all``),
550 at RCPT to the addresses in ``reject_recipients``, or 450 at RCPT to the first
``defer_recipients[address]`` RCPTs of an address. ``logins`` turns on AUTH (required),
``tls_context`` offers STARTTLS, ``require_starttls`` insists on it, and ``implicit_tls``
speaks TLS from the first byte instead.

:func:`self_signed_certificate` writes a certificate for 127.0.0.1 and its key, so a test
can run STARTTLS with a client that really verifies (point ``SSL_CERT_FILE`` at the file).
"""

from __future__ import annotations

import collections
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from _servers import free_port

__all__ = [
    "ReceivedEmail",
    "ScriptedHandler",
    "SmtpServer",
    "self_signed_certificate",
    "server_tls_context",
    "start_smtp_server",
]

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ReceivedEmail:
    """One message the server accepted (answered 250 to)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    login: str | None
    over_tls: bool


class ScriptedHandler:
    """The aiosmtpd handler: answers as scripted, records what it was offered and took."""

    def __init__(
        self,
        *,
        defer_first: int = 0,
        reject_all: bool = False,
        reject_recipients: Collection[str] = (),
        defer_recipients: Mapping[str, int] | None = None,
    ) -> None:
        self.defer_first = defer_first
        self.reject_all = reject_all
        self.reject_recipients = frozenset(reject_recipients)
        self._deferrals_left = collections.Counter(defer_recipients or {})
        self._lock = threading.Lock()
        self._offers: collections.Counter[str] = collections.Counter()
        self._received: list[ReceivedEmail] = []

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.reject_recipients:
            return "550 5.1.1 no such mailbox here"
        with self._lock:
            deferred = self._deferrals_left[address] > 0
            self._deferrals_left[address] -= deferred
        if deferred:
            return "450 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Parsed with plain line endings: CRLF is the wire format, not part of the text.
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        message_id = str(message["Message-ID"])
        with self._lock:
            self._offers[message_id] += 1
            offers = self._offers[message_id]
        if self.reject_all:
            return "550 5.7.1 message refused by policy"
        if offers <= self.defer_first:
            return "421 4.3.2 busy, try again later"
        login = (
            data.login.decode() if isinstance(data := session.auth_data, LoginPassword) else None
        )
        received = ReceivedEmail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            login=login,
            over_tls=_over_tls(server, session),
        )
        with self._lock:
            self._received.append(received)
        return "250 2.0.0 message accepted"

    @property
    def received(self) -> list[ReceivedEmail]:
        """Every message accepted so far, in order."""
        with self._lock:
            return list(self._received)

    def offers(self, message_id: str | None = None) -> int:
        """How many times a message (with this Message-ID, or any) reached DATA."""
        with self._lock:
            if message_id is None:
                return sum(self._offers.values())
            return self._offers[message_id]


def _over_tls(server: SMTP, session: Session) -> bool:
    """Whether the session runs over TLS (STARTTLS sets ``session.ssl``; implicit TLS not)."""
    transport = server.transport
    implicit = transport is not None and transport.get_extra_info("sslcontext") is not None
    return session.ssl is not None or implicit


def _authenticator(logins: Mapping[str, str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            logins.get(data.login.decode()) == data.password.decode()
        )
        # handled=False: aiosmtpd itself answers 535 on a refusal.
        return AuthResult(success=ok, handled=False, auth_data=data)

    return authenticate


class SmtpServer:
    """A running aiosmtpd server: its port and handler; ``stop()`` ends it."""

    def __init__(self, controller: Controller, handler: ScriptedHandler, port: int) -> None:
        self.controller = controller
        self.handler = handler
        self.port = port

    def stop(self) -> None:
        """Stop the server and join its thread."""
        self.controller.stop(no_assert=True)

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_smtp_server(
    handler: ScriptedHandler | None = None,
    *,
    port: int | None = None,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    implicit_tls: ssl.SSLContext | None = None,
    logins: Mapping[str, str] | None = None,
) -> SmtpServer:
    """Start an SMTP server on 127.0.0.1 (``port``, else a free one); it answers on return.

    ``tls_context`` offers STARTTLS; ``implicit_tls`` speaks TLS from the first byte.
    """
    handler = handler or ScriptedHandler()
    chosen = port or free_port()
    options: dict[str, Any] = {}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=require_starttls)
    if logins is not None:
        options.update(authenticator=_authenticator(logins), auth_required=True)
    controller = Controller(
        handler, hostname=HOST, port=chosen, ssl_context=implicit_tls, **options
    )
    controller.start()
    return SmtpServer(controller, handler, chosen)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` (self-signed, for IP 127.0.0.1, valid 1 hour) and ``key.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outlast test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """The server side of TLS with the given certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
