"""``ssl.SSLContext`` builders for mutual TLS and the peer-identity helper.

Why here: the TLS layer is where a partner without an accepted client certificate is refused (before any HTTP
is parsed); the application then reads the peer certificate's subject ``serialNumber`` (a member code) and
compares it with the sender the message claims. Both contexts require TLS 1.2 or later.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from cryptography import x509

from signing.errors import CertificateInvalid
from signing.trust import subject_serial_number

__all__ = ["client_context", "peer_certificate", "peer_serial_number", "server_context"]


def _load_ca(ctx: ssl.SSLContext, ca: str | Path | bytes) -> None:
    try:
        if isinstance(ca, bytes):
            ctx.load_verify_locations(cadata=ca.decode("ascii"))
        else:
            ctx.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise CertificateInvalid("ca_unreadable", "cannot load the CA bundle") from exc


def _load_chain(ctx: ssl.SSLContext, cert_file: str | Path, key_file: str | Path) -> None:
    try:
        ctx.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise CertificateInvalid("chain_unreadable", "cannot load the certificate chain or its key") from exc


def server_context(cert_file: str | Path, key_file: str | Path, client_ca: str | Path | bytes) -> ssl.SSLContext:
    """A server context that *requires* a client certificate issued by ``client_ca`` (file path or PEM bytes)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert_file, key_file)
    _load_ca(ctx, client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(
    server_ca: str | Path | bytes,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context trusting only ``server_ca``, presenting the client chain when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load_ca(ctx, server_ca)
    if cert_file is not None:
        if key_file is None:
            raise CertificateInvalid("chain_unreadable", "a client certificate needs its key file")
        _load_chain(ctx, cert_file, key_file)
    return ctx


def peer_certificate(transport: Any) -> x509.Certificate | None:
    """The peer's (already TLS-verified) certificate from an asyncio/aiohttp transport; ``None`` without TLS."""
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateInvalid("unreadable_certificate", "peer certificate is unreadable") from exc


def peer_serial_number(transport: Any) -> str | None:
    """The peer certificate's subject ``serialNumber`` (e.g. a 6-digit member code), ``None`` if absent."""
    cert = peer_certificate(transport)
    return subject_serial_number(cert) if cert is not None else None
