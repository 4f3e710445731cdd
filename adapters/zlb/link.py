"""The zlb link: one side's credentials (``Link``), reading them, and development credentials.

Split from ``adapters/zlb/roles.py`` (which re-exports these names for the scheme registry).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.zlb.scheme import (
    is_cert_sn,
)
from gateway.dialects import LinkKeys
from gateway.errors import ConfigError
from gateway.registry import Platform
from signing.devpki import private_key_pem, public_key_pem
from signing.errors import SigningError
from signing.keys import ALG_SM2_SM3, alg_for_key, load_private_key_file, load_public_key_file
from signing.secret import Secret, secret_from_file
from signing.sm import sm2_generate

_SOURCE = "zlb link settings"

__all__ = ['Link', 'generate_link', 'load_link']


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


def _text(settings: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = settings.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ConfigError(_SOURCE, key, "missing or not a non-empty string", f"set {key} in the link table")
    return value


def _serial(key: str, value: object) -> str:
    if not isinstance(value, str) or not is_cert_sn(value):
        raise ConfigError(_SOURCE, key, "not a certificate serial in lower-case hex", "write e.g. 5a4b3c2d1e0f0001")
    return value


def _sm2(key: str, path: Path, private: bool) -> Any:
    try:
        loaded = load_private_key_file(path) if private else load_public_key_file(path)
        if alg_for_key(loaded) != ALG_SM2_SM3:
            raise ConfigError(_SOURCE, key, f"{path} is not an SM2 key", "zlb.md §3 signs with SM2 only")
    except SigningError as exc:
        raise ConfigError(_SOURCE, key, f"cannot read an SM2 PEM key from {path}", "check the path") from exc
    return loaded


def _certs(settings: Mapping[str, Any], key: str, base: Path) -> dict[str, Any]:
    table = settings.get(key, {})
    if not isinstance(table, Mapping):
        raise ConfigError(_SOURCE, key, "not a table of serial = public key file", 'write {"<sn>" = "peer.pem"}')
    return {_serial(f"{key}.{sn}", sn): _sm2(f"{key}.{sn}", base / str(path), False) for sn, path in table.items()}


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """One side's link from its settings table; files are relative to ``base``.

    Keys: ``app_key``, ``app_secret_file``, ``sm2_key_file`` (PEM PKCS#8), ``sm2_cert_sn``, ``peer_certs``
    (serial → PEM public key file: the peer's registered certificates, §3), optional ``licence_issuers`` (same
    form), ``licence_key_file`` + ``licence_cert_sn`` (an issuing platform), ``local_id``, ``peer_id``.
    Decision (no SM2 X.509 in the toolchain): a registered certificate is its serial and its public key.
    """
    try:
        app_secret = secret_from_file(base / _text(settings, "app_secret_file"))
    except SigningError as exc:
        raise ConfigError(_SOURCE, "app_secret_file", "cannot read the appSecret file", "check the path") from exc
    peer_certs = _certs(settings, "peer_certs", base)
    if not peer_certs:
        raise ConfigError(_SOURCE, "peer_certs", "no peer certificate registered", "name at least one")
    licence_file = _text(settings, "licence_key_file", required=False)
    return Link(
        app_key=_text(settings, "app_key"),
        app_secret=app_secret,
        sign_key=_sm2("sm2_key_file", base / _text(settings, "sm2_key_file"), True),
        cert_sn=_serial("sm2_cert_sn", settings.get("sm2_cert_sn")),
        peer_certs=peer_certs,
        licence_issuers=_certs(settings, "licence_issuers", base),
        licence_key=_sm2("licence_key_file", base / licence_file, True) if licence_file else None,
        licence_cert_sn=_serial("licence_cert_sn", settings.get("licence_cert_sn")) if licence_file else "",
        local_id=_text(settings, "local_id", required=False),
        peer_id=_text(settings, "peer_id", required=False),
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if private:
        path.chmod(0o600)


def _new_serial() -> str:
    return format(secrets.randbits(63) | 1 << 62, "x")  # 16 hex digits, like the document's 5a4b3c2d1e0f0001


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials under ``folder/<platform id>/``: ``(gateway side, platform side)`` settings.

    SM2 keys are cheap (milliseconds), so nothing is cached. Secret and private key files are mode 0600.
    """
    pid = platform.id
    target = folder / pid
    target.mkdir(parents=True, exist_ok=True)
    _write(target / "app_secret", secrets.token_urlsafe(24).encode("ascii"), True)
    serials: dict[str, str] = {}
    for who in ("gateway", "platform", "licence"):
        key = sm2_generate()
        _write(target / f"{who}_sm2_key.pem", private_key_pem(key), True)
        _write(target / f"{who}_sm2_pub.pem", public_key_pem(key), False)
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
