"""X.509 trust stores: one per partner, chain validation at an injected time, usage checks, expiry report.

Chain building and signature/validity/CA-constraint checks are done by ``cryptography.x509.verification``
(RFC 5280 path building with the CA/B-Forum ("webpki") profile for CA certificates). The end-entity profile is
relaxed to ``permit_all`` because partners' signing and client certificates carry no SAN; instead this module
checks the leaf explicitly: not a CA, ``keyUsage`` present with ``digitalSignature``, and for TLS clients an
``extendedKeyUsage`` (when present) containing ``clientAuth``. Validity is also checked explicitly first so the
failure reason says *expired* / *not yet valid* rather than "no chain".

Verified chains are remembered: the same partner certificate arrives with every message (a g60 receipt carries
it in its XMLDSig ``KeyInfo``), and building and checking its path again cost ~5 % of the delivery worker's time.
A remembered chain answers only while every certificate in it is within its validity window; outside it, or for
another leaf, presented intermediates or usage, the full check runs (so the refusal reason is the same as without
the memory). Trust decisions here never depended on anything else: no revocation is consulted.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import CertificateInvalid

__all__ = [
    "TrustStore",
    "Usage",
    "as_datetime",
    "days_left",
    "load_certificates",
    "subject_serial_number",
]


class Usage(Enum):
    """What the leaf certificate is being accepted for."""

    SIGNING = "signing"
    TLS_CLIENT = "tls_client"
    TLS_SERVER = "tls_server"


def as_datetime(now: float | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from a Unix time or a datetime (naive datetimes are taken as UTC)."""
    if isinstance(now, dt.datetime):
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(now, dt.UTC)


def days_left(cert: x509.Certificate, now: float | dt.datetime) -> float:
    """Days until ``cert`` expires (negative once expired): the number a renewal alert watches."""
    return (cert.not_valid_after_utc - as_datetime(now)).total_seconds() / 86400.0


@functools.lru_cache(maxsize=256)
def subject_serial_number(cert: x509.Certificate) -> str | None:
    """The subject ``serialNumber`` attribute (OID 2.5.4.5), e.g. a member code; ``None`` when absent.

    Not the certificate's serial number. More than one such attribute is refused (ambiguous identity). Remembered
    per certificate: every g60 message asks it of its signer, and reading the subject parses it anew each time.
    """
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not attrs:
        return None
    if len(attrs) > 1:
        raise CertificateInvalid("ambiguous_subject", "subject carries more than one serialNumber")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; :class:`CertificateInvalid` when there is none or one is unreadable."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateInvalid("unreadable_certificate", "PEM bundle is unreadable") from exc
    if not certs:
        raise CertificateInvalid("unreadable_certificate", "PEM bundle holds no certificate")
    return certs


def _check_validity(cert: x509.Certificate, at: dt.datetime, what: str) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateInvalid("not_yet_valid", f"{what} certificate is not valid yet")
    if at > cert.not_valid_after_utc:
        raise CertificateInvalid("expired", f"{what} certificate has expired")


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_leaf_usage(cert: x509.Certificate, usage: Usage) -> None:
    bc = _ext(cert, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise CertificateInvalid("wrong_key_usage", "a CA certificate cannot be a leaf")
    ku = _ext(cert, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage) or not ku.digital_signature:
        raise CertificateInvalid("wrong_key_usage", "leaf keyUsage lacks digitalSignature")
    wanted = {Usage.TLS_CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH, Usage.TLS_SERVER: ExtendedKeyUsageOID.SERVER_AUTH}
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if usage in wanted and isinstance(eku, x509.ExtendedKeyUsage) and wanted[usage] not in eku:
        raise CertificateInvalid("wrong_key_usage", f"leaf extendedKeyUsage does not allow {usage.value}")


_REMEMBERED_CHAINS = 256  # distinct (leaf, intermediates, usage) per store; partners present a handful
_ChainKey = tuple[x509.Certificate, tuple[x509.Certificate, ...], "Usage"]


@dataclass(frozen=True, slots=True)
class _Verified:
    """A chain that verified, and the window in which every certificate of it is valid."""

    chain: tuple[x509.Certificate, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True)
class TrustStore:
    """The CA certificates one partner's certificates must chain to, plus optional known intermediates."""

    name: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    max_chain_depth: int = 4
    _store: xv.Store = field(init=False, repr=False, compare=False)
    _verified: dict[_ChainKey, _Verified] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.roots:
            raise CertificateInvalid("empty_trust_store", f"trust store {self.name!r} has no CA certificate")
        object.__setattr__(self, "_store", xv.Store(list(self.roots)))
        object.__setattr__(self, "_verified", {})

    @classmethod
    def from_pem(cls, name: str, roots_pem: bytes | str, intermediates_pem: bytes | str | None = None) -> TrustStore:
        """A store from a PEM CA bundle (and optionally a bundle of intermediates)."""
        inter = tuple(load_certificates(intermediates_pem)) if intermediates_pem else ()
        return cls(name, tuple(load_certificates(roots_pem)), inter)

    @classmethod
    def from_files(cls, name: str, roots: str | Path, intermediates: str | Path | None = None) -> TrustStore:
        """A store from PEM files on disk (read once, at start-up)."""
        try:
            roots_pem = Path(roots).read_bytes()
            inter_pem = Path(intermediates).read_bytes() if intermediates else None
        except OSError as exc:
            raise CertificateInvalid("trust_file_unreadable", f"cannot read CA bundle for {name!r}") from exc
        return cls.from_pem(name, roots_pem, inter_pem)

    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Every certificate the store holds (roots then intermediates)."""
        return self.roots + self.intermediates

    def days_left(self, now: float | dt.datetime) -> dict[str, float]:
        """Days left per held certificate, keyed by the subject in RFC 4514 form."""
        return {c.subject.rfc4514_string(): days_left(c, now) for c in self.certificates()}

    def verify(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate] = (),
        *,
        now: float | dt.datetime,
        usage: Usage = Usage.SIGNING,
    ) -> list[x509.Certificate]:
        """Validate ``leaf`` (with presented ``intermediates``) at ``now``; returns the chain leaf-first.

        Raises :class:`CertificateInvalid` with reason ``expired``, ``not_yet_valid``, ``wrong_key_usage``
        or ``untrusted_chain``.
        """
        at = as_datetime(now)
        key = (leaf, tuple(intermediates), usage)
        known = self._verified.get(key)
        if known is not None and known.valid_from <= at <= known.valid_until:
            return list(known.chain)
        _check_validity(leaf, at, "leaf")
        _check_leaf_usage(leaf, usage)
        pool: Iterable[x509.Certificate] = (*intermediates, *self.intermediates)
        policy = (
            xv.PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(self.max_chain_depth)
            .extension_policies(
                ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(), ee_policy=xv.ExtensionPolicy.permit_all()
            )
        )
        try:
            verified = policy.build_client_verifier().verify(leaf, list(pool))
        except xv.VerificationError as exc:
            for cert in intermediates:
                _check_validity(cert, at, "intermediate")
            raise CertificateInvalid("untrusted_chain", f"certificate does not chain to {self.name!r}") from exc
        chain = tuple(verified.chain)
        if len(self._verified) >= _REMEMBERED_CHAINS:
            self._verified.clear()
        self._verified[key] = _Verified(
            chain,
            max(c.not_valid_before_utc for c in chain),
            min(c.not_valid_after_utc for c in chain),
        )
        return list(chain)
