"""The g60 link: one side's credentials (``Link``), reading them, and development credentials.

Split from ``adapters/g60/roles.py`` (which re-exports these names for the scheme registry).
"""

from __future__ import annotations

import functools
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from adapters.g60.scheme import (
    Signer,
)
from adapters.linkfiles import LinkReader, write_file
from gateway.dialects import LinkKeys
from gateway.errors import ConfigError
from gateway.registry import Platform
from signing import tls
from signing.devpki import (
    Issued,
    generate_rsa,
    generate_sm2,
    issue_tls_client,
    issue_tls_server,
    issue_xml_signing,
    make_ca,
    private_key_pem,
    public_key_pem,
)
from signing.keys import load_private_key_file
from signing.trust import TrustStore, load_certificates, subject_serial_number

_SOURCE = "g60 link settings"

__all__ = ["Link", "generate_link", "load_link", "server_ssl_context"]


# --- one side's credentials --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """One side of a g60 link: who it is, what it signs with, and whom it believes (allow-lists).

    ``code`` is this side's SenderCode (its certificates' subject ``serialNumber``); ``peer_code`` is the code it
    writes as ``ReceiverCode``; ``peer_codes`` the codes a peer may sign or connect as. ``trust`` is the G60 CA
    (peer signatures and TLS client certificates; XMLDSig is one fixed algorithm profile, §4). ``licence_keys``
    are the issuers' SM2 keys by ``CertSn``; ``licence_signer`` (``CertSn``, SM2 key) signs licences it serves.
    """

    code: str
    peer_code: str
    peer_codes: frozenset[str]
    signer: Signer
    trust: TrustStore
    ca_file: Path
    client_tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    server_cert: Path | None = None
    server_key: Path | None = field(default=None, repr=False)
    licence_keys: Mapping[str, Any] = field(default_factory=dict, repr=False)
    licence_signer: tuple[str, Any] | None = field(default=None, repr=False)

    def key_material(self) -> LinkKeys:
        return LinkKeys(
            signer_chains=((self.signer.cert, *self.signer.intermediates),),
            trust_anchors=tuple(self.trust.certificates()),
            sm2=() if self.licence_signer is None else (self.licence_signer,),
            licence_issuer=self.licence_signer,
        )


def _certs(path: Path) -> list[x509.Certificate]:
    return load_certificates(path.read_bytes())


def _client_tls(link: LinkReader, code: str, ca: Path) -> ssl.SSLContext | None:
    """§1: the client certificate (subject ``serialNumber`` = this side's code) and the server's CA."""
    cert, key = link.file("tls_cert", required=False), link.file("tls_key", required=False)
    if cert is None:
        return None
    if key is None:
        raise link.refuse("tls_key", "is missing", "a client certificate needs its key")
    if subject_serial_number(link.read("tls_cert", "client certificate", _certs, cert)[0]) != code:
        raise link.refuse(
            "tls_cert",
            "the certificate's serialNumber is not this side's code",
            "g60.md §1: the client certificate carries the SenderCode",
        )
    server_ca = link.file("server_ca", required=False) or ca
    return link.read("tls_cert", "client certificate", lambda _: tls.client_context(server_ca, cert, key), cert)


@functools.lru_cache(maxsize=64)
def _private_key(path: str, mtime_ns: int, size: int) -> Any:
    """Loading a PEM RSA key checks it (~100 ms); a file read again unchanged gives the same key."""
    return load_private_key_file(path)


def _key_file(path: Path) -> Any:
    stat = path.stat()
    return _private_key(str(path), stat.st_mtime_ns, stat.st_size)


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """Read one side's ``[platforms.<id>.link]`` table (file names relative to ``base``); ``ConfigError`` names
    the key on any problem, including certificates that do not carry this side's ``code``."""
    link = LinkReader(_SOURCE, settings, base)
    code, peer_code = link.text("code"), link.text("peer_code")
    peers = settings.get("peer_codes", [peer_code])
    if not isinstance(peers, list) or not peers or not all(isinstance(p, str) and p for p in peers):
        raise link.refuse("peer_codes", f"{peers!r} is not a list of party codes", 'write ["G60"]')
    ca = link.required_file("ca")
    trust = TrustStore("G60 CA", tuple(link.read("ca", "CA certificates", _certs, ca)))
    chain = link.read("sign_cert", "signing certificate", _certs, link.required_file("sign_cert"))
    key = link.read("sign_key", "signing key", _key_file, link.required_file("sign_key"))
    signer = Signer(chain[0], key, tuple(chain[1:]))
    if signer.code != code:
        raise link.refuse(
            "sign_cert", "the certificate's serialNumber is not this side's code", "issue it for the code (g60.md §4)"
        )
    licence_signer = None
    if settings.get("licence_sign_key") is not None:
        licence_signer = (link.text("licence_cert_sn"), link.private_key("licence_sign_key"))
    return Link(
        code,
        peer_code,
        frozenset(peers),
        signer,
        trust,
        ca,
        _client_tls(link, code, ca),
        link.file("server_cert", required=False),
        link.file("server_key", required=False),
        link.public_keys("licence_keys"),
        licence_signer,
    )


def server_ssl_context(link: Link) -> ssl.SSLContext:
    """§1: TLS 1.2+ requiring a client certificate from the G60 CA."""
    if link.server_cert is None or link.server_key is None:
        raise ConfigError(_SOURCE, "server_cert", "this side has no server certificate", "add server_cert/key")
    return tls.server_context(link.server_cert, link.server_key, link.ca_file)


# --- development credentials -------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _rsa_key(slot: str) -> Any:
    """RSA generation is the slow part (~100 ms); one key per slot and process is enough for development."""
    return generate_rsa()


def _write(path: Path, data: bytes, private: bool = False) -> str:
    write_file(path, data, private=private)
    return path.name


def _side(folder: Path, ca: Issued, role: str, code: str) -> dict[str, Any]:
    sign = issue_xml_signing(ca, code, key=_rsa_key(f"{role}:{code}"))
    client = issue_tls_client(ca, code)
    server = issue_tls_server(ca)
    rel = folder.name
    out: dict[str, Any] = {"code": code, "ca": f"{rel}/ca.pem"}
    for name, issued in (("sign", sign), ("tls", client), ("server", server)):
        out[f"{name}_cert"] = f"{rel}/" + _write(folder / f"{role}-{name}.pem", issued.cert_pem())
        out[f"{name}_key"] = f"{rel}/" + _write(folder / f"{role}-{name}.key", issued.key_pem(), private=True)
    return out


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials for ``platform`` under ``folder/<platform id>/``: a G60 CA, each side's
    signing, TLS client and TLS server certificates, the issuer's SM2 licence key. File names in the returned
    settings are relative to ``folder``. The gateway's code is ``sender_code`` (default ``TONGBAN``), the
    platform's ``party_code`` (default its id upper-cased without ``-``: ``G60``, ``YRDMAP``)."""
    out = folder / platform.id
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca("G60 Dev CA")
    _write(out / "ca.pem", ca.cert_pem())
    _write(out / "ca.key", ca.key_pem(), private=True)
    ours = str(platform.settings.get("sender_code", "TONGBAN"))
    theirs = str(platform.settings.get("party_code", platform.id.upper().replace("-", "")))
    sm2 = generate_sm2()
    cert_sn = uuid.uuid4().hex[:16]  # lower-case hex: zlb.md §3 writes serials so, and links share issuers
    _write(out / "licence-sm2.key", private_key_pem(sm2), private=True)
    _write(out / "licence-sm2.pub", public_key_pem(sm2))
    gateway = {
        **_side(out, ca, "gateway", ours),
        "peer_code": theirs,
        "licence_keys": {cert_sn: f"{out.name}/licence-sm2.pub"},
    }
    simulated = {
        **_side(out, ca, "platform", theirs),
        "peer_code": ours,
        "licence_sign_key": f"{out.name}/licence-sm2.key",
        "licence_cert_sn": cert_sn,
    }
    return gateway, simulated
