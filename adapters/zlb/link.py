"""The zlb link: one side's credentials (``Link``), reading them, and development credentials.

Split from ``adapters/zlb/roles.py`` (which re-exports these names for the scheme registry).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.linkfiles import LinkReader, write_file
from adapters.zlb.scheme import (
    is_cert_sn,
)
from gateway.dialects import LinkKeys
from gateway.registry import Platform
from signing.devpki import private_key_pem, public_key_pem
from signing.keys import ALG_SM2_SM3
from signing.secret import Secret
from signing.sm import sm2_generate

_SOURCE = "zlb link settings"

__all__ = ["Link", "generate_link", "load_link"]


# --- the link ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Link:
    """One side of a zlb link. The same type serves both roles: each side signs with its own SM2 key and verifies
    the other's against ``peer_certs``; the appKey/appSecret pair is shared (the caller signs, the receiver checks).
    """

    app_key: str  # the IRS appKey of the calling application on this link
    app_secret: Secret  # shared; authenticates refreshTokenByKey.htm (§2.1)
    sign_key: Any = field(repr=False)  # this side's SM2 private key
    cert_sn: str  # serial (lower-case hex) of this side's registered SM2 certificate: X-Sm2-Cert-Sn
    peer_certs: Mapping[str, Any] = field(repr=False)  # allow-list: serial → the peer's SM2 public key
    licence_issuers: Mapping[str, Any] = field(default_factory=dict, repr=False)  # signCertSN → issuer SM2 key
    licence_key: Any = field(default=None, repr=False)  # the issuing side's licence key (a simulator), or None
    licence_cert_sn: str = ""
    local_id: str = ""
    peer_id: str = ""

    def key_material(self) -> LinkKeys:
        issuing = self.licence_key is not None and self.licence_cert_sn
        issuer = (self.licence_cert_sn, self.licence_key) if issuing else None
        own = (self.cert_sn, self.sign_key)
        return LinkKeys(sm2=(own,) if issuer is None else (own, issuer), licence_issuer=issuer)


def _serial(link: LinkReader, key: str, value: object) -> str:
    if not isinstance(value, str) or not is_cert_sn(value):
        raise link.refuse(key, "not a certificate serial in lower-case hex", "write e.g. 5a4b3c2d1e0f0001")
    return value


def _certs(link: LinkReader, key: str) -> dict[str, Any]:
    """A table of certificate serial → SM2 public key file (zlb.md §3: a registered certificate)."""
    keys = link.public_keys(key, ALG_SM2_SM3)
    return {_serial(link, f"{key}.{sn}", sn): public for sn, public in keys.items()}


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """One side's link from its settings table; files are relative to ``base``.

    Keys: ``app_key``, ``app_secret_file``, ``sm2_key_file`` (PEM PKCS#8), ``sm2_cert_sn``, ``peer_certs``
    (serial → PEM public key file: the peer's registered certificates, §3), optional ``licence_issuers`` (same
    form), ``licence_key_file`` + ``licence_cert_sn`` (an issuing platform), ``local_id``, ``peer_id``.
    Decision (no SM2 X.509 in the toolchain): a registered certificate is its serial and its public key.
    """
    link = LinkReader(_SOURCE, settings, base)
    app_secret = link.secret("app_secret_file")
    peer_certs = _certs(link, "peer_certs")
    if not peer_certs:
        raise link.refuse("peer_certs", "no peer certificate registered", "name at least one")
    issuing = link.text("licence_key_file", required=False)
    return Link(
        app_key=link.text("app_key"),
        app_secret=app_secret,
        sign_key=link.private_key("sm2_key_file", ALG_SM2_SM3),  # zlb.md §3 signs with SM2 only
        cert_sn=_serial(link, "sm2_cert_sn", settings.get("sm2_cert_sn")),
        peer_certs=peer_certs,
        licence_issuers=_certs(link, "licence_issuers"),
        licence_key=link.private_key("licence_key_file", ALG_SM2_SM3) if issuing else None,
        licence_cert_sn=_serial(link, "licence_cert_sn", settings.get("licence_cert_sn")) if issuing else "",
        local_id=link.text("local_id", required=False),
        peer_id=link.text("peer_id", required=False),
    )


def _new_serial() -> str:
    return format(secrets.randbits(63) | 1 << 62, "x")  # 16 hex digits, like the document's 5a4b3c2d1e0f0001


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials under ``folder/<platform id>/``: ``(gateway side, platform side)`` settings.

    SM2 keys are cheap (milliseconds), so nothing is cached. Secret and private key files are mode 0600.
    """
    pid = platform.id
    target = folder / pid
    target.mkdir(parents=True, exist_ok=True)
    write_file(target / "app_secret", secrets.token_urlsafe(24).encode("ascii"), private=True)
    serials: dict[str, str] = {}
    for who in ("gateway", "platform", "licence"):
        key = sm2_generate()
        write_file(target / f"{who}_sm2_key.pem", private_key_pem(key), private=True)
        write_file(target / f"{who}_sm2_pub.pem", public_key_pem(key))
        serials[who] = _new_serial()
    shared = {"app_key": f"{pid}-gateway-{secrets.token_hex(4)}", "app_secret_file": f"{pid}/app_secret"}
    gateway = {
        **shared,
        "sm2_key_file": f"{pid}/gateway_sm2_key.pem",
        "sm2_cert_sn": serials["gateway"],
        "peer_certs": {serials["platform"]: f"{pid}/platform_sm2_pub.pem"},
        "licence_issuers": {serials["licence"]: f"{pid}/licence_sm2_pub.pem"},
        "local_id": "gateway",
        "peer_id": pid,
    }
    platform_side = {
        **shared,
        "sm2_key_file": f"{pid}/platform_sm2_key.pem",
        "sm2_cert_sn": serials["platform"],
        "peer_certs": {serials["gateway"]: f"{pid}/gateway_sm2_pub.pem"},
        "licence_key_file": f"{pid}/licence_sm2_key.pem",
        "licence_cert_sn": serials["licence"],
        "local_id": pid,
        "peer_id": "gateway",
    }
    return gateway, platform_side
