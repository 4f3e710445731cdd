"""Development and test PKI: a CA, TLS server/client leaves, XML-signing certificates and raw key pairs.

Why here: tests, the platform simulators and the demo all need a consistent, realistic PKI (CA with
basicConstraints/keyUsage/SKI, leaves with AKI, EKU and the 6-digit member code in the subject ``serialNumber``)
that passes :class:`signing.trust.TrustStore`. Nothing here is for production. RSA generation is slow
(~50-200 ms per 2048-bit key), so only XML-signing leaves are RSA; the CA and TLS leaves are P-256. Tests
should build one PKI per session.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tongsuopy.crypto import serialization as sm_ser

from signing.sm import sm2_generate

__all__ = [
    "DevPki",
    "Issued",
    "generate_dev_pki",
    "generate_ed25519",
    "generate_p256",
    "generate_rsa",
    "generate_sm2",
    "issue_intermediate",
    "issue_tls_client",
    "issue_tls_server",
    "issue_xml_signing",
    "make_ca",
    "private_key_pem",
    "public_key_pem",
]

_DEFAULT_DAYS = 365


def generate_p256() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def generate_ed25519() -> ed25519.Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return ed25519.Ed25519PrivateKey.generate()


def generate_rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A new RSA private key (e = 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_sm2() -> Any:
    """A new SM2 private key (tongsuopy)."""
    return sm2_generate()


def private_key_pem(key: Any) -> bytes:
    """Unencrypted PKCS#8 PEM of any supported private key (SM2 included)."""
    if hasattr(key, "curve") and getattr(key.curve, "name", "") == "SM2":
        return bytes(key.private_bytes(sm_ser.Encoding.PEM, sm_ser.PrivateFormat.PKCS8, sm_ser.NoEncryption()))
    return bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def public_key_pem(key: Any) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key, or of a private key's public half."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if hasattr(pub, "curve") and getattr(pub.curve, "name", "") == "SM2":
        return bytes(pub.public_bytes(sm_ser.Encoding.PEM, sm_ser.PublicFormat.SubjectPublicKeyInfo))
    return bytes(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Any = field(repr=False)

    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return private_key_pem(self.key)


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)


def _name(cn: str, code: str | None = None, org: str = "Tongban Dev PKI") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if code is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, code))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: Issued | None, public: Any, not_before: dt.datetime, not_after: dt.datetime
) -> x509.CertificateBuilder:
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    return b


def _ku(
    digital_signature: bool = False,
    key_cert_sign: bool = False,
    non_repudiation: bool = False,
    key_encipherment: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _window(
    now: dt.datetime | None, days: int, not_before: dt.datetime | None, not_after: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or _now(now) - dt.timedelta(minutes=5)
    return start, not_after or start + dt.timedelta(days=days)


def make_ca(
    cn: str = "Tongban Dev Root CA",
    *,
    key: Any = None,
    now: dt.datetime | None = None,
    days: int = 3650,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A self-signed root CA (P-256 unless a key is given)."""
    key = key or generate_p256()
    nb, na = _window(now, days, not_before, not_after)
    cert = (
        _builder(_name(cn), None, key.public_key(), nb, na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(key_cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue_intermediate(ca: Issued, cn: str, *, now: dt.datetime | None = None, days: int = 1825) -> Issued:
    """An intermediate CA under ``ca`` (P-256, path length 0)."""
    key = generate_p256()
    nb, na = _window(now, days, None, None)
    cert = (
        _builder(_name(cn), ca, key.public_key(), nb, na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ku(key_cert_sign=True), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def _leaf(
    ca: Issued,
    subject: x509.Name,
    key: Any,
    eku: Sequence[x509.ObjectIdentifier] | None,
    ku: x509.KeyUsage,
    san: Sequence[x509.GeneralName],
    now: dt.datetime | None,
    days: int,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> Issued:
    nb, na = _window(now, days, not_before, not_after)
    b = (
        _builder(subject, ca, key.public_key(), nb, na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku, critical=True)
    )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return Issued(b.sign(ca.key, hashes.SHA256()), key)


def issue_tls_server(
    ca: Issued,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    *,
    now: dt.datetime | None = None,
    days: int = _DEFAULT_DAYS,
) -> Issued:
    """A TLS server certificate (P-256) for the given DNS names and IP addresses."""
    san: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return _leaf(
        ca,
        _name(hostnames[0] if hostnames else ips[0]),
        generate_p256(),
        [ExtendedKeyUsageOID.SERVER_AUTH],
        _ku(digital_signature=True),
        san,
        now,
        days,
        None,
        None,
    )


def issue_tls_client(
    ca: Issued, code: str, cn: str | None = None, *, now: dt.datetime | None = None, days: int = _DEFAULT_DAYS
) -> Issued:
    """A TLS client certificate (P-256) whose subject ``serialNumber`` carries ``code`` (e.g. a member code)."""
    return _leaf(
        ca,
        _name(cn or f"member-{code}", code),
        generate_p256(),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        _ku(digital_signature=True),
        [],
        now,
        days,
        None,
        None,
    )


def issue_xml_signing(
    ca: Issued,
    code: str,
    cn: str | None = None,
    *,
    key: Any = None,
    now: dt.datetime | None = None,
    days: int = _DEFAULT_DAYS,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
) -> Issued:
    """An XML-signing certificate (RSA 2048 unless a key is given), ``serialNumber`` = ``code``."""
    return _leaf(
        ca,
        _name(cn or f"signer-{code}", code),
        key or generate_rsa(),
        None,
        _ku(digital_signature=digital_signature, non_repudiation=True),
        [],
        now,
        days,
        not_before,
        not_after,
    )


@dataclass(frozen=True)
class DevPki:
    """What :func:`generate_dev_pki` wrote, by role."""

    folder: Path
    ca: Issued
    server: Issued
    clients: dict[str, Issued]
    xml_signers: dict[str, Issued]


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def generate_dev_pki(
    folder: str | Path,
    codes: Sequence[str] = ("310117",),
    *,
    now: dt.datetime | None = None,
    with_raw_keys: bool = True,
) -> DevPki:
    """Write a complete development PKI as PEM files into ``folder``.

    Files: ``ca.pem`` (+``ca.key``), ``server.pem``/``server.key`` (localhost, 127.0.0.1), per code
    ``client-<code>.pem/.key`` and ``xmlsig-<code>.pem/.key``; with ``with_raw_keys`` also ``ed25519.key``,
    ``p256.key``, ``sm2.key`` and their ``.pub`` files.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca(now=now)
    server = issue_tls_server(ca, now=now)
    _write(out / "ca.pem", ca.cert_pem())
    _write(out / "ca.key", ca.key_pem(), private=True)
    _write(out / "server.pem", server.cert_pem())
    _write(out / "server.key", server.key_pem(), private=True)
    clients, signers = {}, {}
    for code in codes:
        clients[code] = issue_tls_client(ca, code, now=now)
        signers[code] = issue_xml_signing(ca, code, now=now)
        for role, issued in (("client", clients[code]), ("xmlsig", signers[code])):
            _write(out / f"{role}-{code}.pem", issued.cert_pem())
            _write(out / f"{role}-{code}.key", issued.key_pem(), private=True)
    if with_raw_keys:
        for name, key in (("ed25519", generate_ed25519()), ("p256", generate_p256()), ("sm2", generate_sm2())):
            _write(out / f"{name}.key", private_key_pem(key), private=True)
            _write(out / f"{name}.pub", public_key_pem(key))
    return DevPki(out, ca, server, clients, signers)
