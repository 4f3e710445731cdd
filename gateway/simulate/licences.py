"""A simulated issuing platform's licence library (电子证照库): deterministic licences, signed as §6.6 says.

Why deterministic: tests and the demo must be able to name a licence the simulator holds, and two runs with the
same seed must serve the same bytes. Every licence is valid by the documents' own rules (README §7: GB/T 36904
identifiers with their MOD 37,36 check character, GB 11643 ID numbers and GB 32100 USCCs with their check
characters), so a failure downstream is the code's, not the data's. Signatures (SM2-SM3 over the licence signing
string, anhui.md §6.6) are made on first use and cached: SM2 signing is the only expensive step.

Querying is :meth:`LicenceLibrary.answer`: the identifier first (the documents define no not-found code; the
library refuses with ``UNKNOWN_CODE``, README §10's closest family), then the holder's consent token against that
licence with ``requester=None`` (an issuing platform cannot know whom the gateway forwards for), then single use
of the token's ``jti``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from gateway.consent import ConsentJtiGuard, ConsentVerifier, InMemoryJtiGuard
from gateway.errors import Refusal, RejectionCode
from gateway.model.identifiers import (
    USCC_ALPHABET,
    gb11643_check_char,
    gb11714_check_char,
    gb32100_check_char,
    mod37_36,
)
from gateway.model.licence_sign import LicenceSignature, licence_signing_string
from gateway.model.records import Licence, LicenceQuery, SurfaceEntry
from gateway.wire.base import InboundCall, LicenceAnswer
from signing.sm import sm2_sign_b64

__all__ = ["LicenceLibrary", "make_id_number", "make_uscc"]

#: licence types: (definer USCC without check character, 3-digit suffix, name, surface names)
_TYPES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("11100000MB3L0DD70", "017", "建筑工程施工许可证", ("工程名称", "建设地址", "合同价格（万元）", "建设规模")),
    ("11100000MB0A3K7N3", "001", "营业执照", ("名称", "类型", "住所", "经营范围", "注册资本")),
    ("11100000MB1C2D3E4", "003", "食品经营许可证", ("经营者名称", "经营场所", "主体业态", "经营项目")),
    ("11100000MB5F6G7H8", "101", "居民户口簿", ("户主姓名", "户别", "住址")),
    ("11100000MB9J8K7L6", "024", "残疾人证", ("残疾类别", "残疾等级", "监护人")),
)
_ISSUERS = ("市场监督管理局", "城乡建设局", "公安局", "残疾人联合会", "数据资源局")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛")
_COMPANY = ("文化传媒", "智能装备", "建筑工程", "食品贸易", "科技发展", "物流")
_CITY = {"340100": "合肥", "340400": "淮南", "330200": "宁波", "310117": "松江", "430100": "长沙"}


def make_uscc(rng: random.Random, region: str, kind: str = "91") -> str:
    """A USCC of ``kind`` (e.g. ``91`` enterprise, ``11`` authority) in ``region`` passing GB 11714 and GB 32100."""
    org8 = "MB" + "".join(rng.choice(USCC_ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    first17 = kind + region + org8 + gb11714_check_char(org8)
    return first17 + gb32100_check_char(first17)


def make_id_number(rng: random.Random, region: str) -> str:
    """A resident ID number (GB 11643) with a real birth date and the right check character."""
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return first17 + gb11643_check_char(first17)


def _identifier(type_code: str, issuer: str, serial: str, version: str) -> str:
    check = mod37_36((type_code + issuer + serial + version).upper())
    return f"1.2.156.3005.2.{type_code}.{issuer}.{serial}.{version}.{check}"


class LicenceLibrary:
    """``size`` deterministic licences of one issuing region, signed with ``issuer_key`` under ``cert_sn``."""

    def __init__(
        self,
        issuer_key: Any,
        cert_sn: str,
        region: str,
        seed: int = 0,
        size: int = 200,
        *,
        jti_guard: ConsentJtiGuard | None = None,
    ) -> None:
        # a signing.keys.SigningKey (alg SM2-SM3) or a bare SM2 private key
        self._private = getattr(issuer_key, "private", issuer_key)
        self.cert_sn = cert_sn
        self.region = region
        self.jti_guard: ConsentJtiGuard = jti_guard if jti_guard is not None else InMemoryJtiGuard()
        self._licences: dict[str, Licence] = {}
        self._signatures: dict[str, LicenceSignature] = {}
        rng = random.Random(f"licences:{seed}:{region}")
        city = _CITY.get(region, "")
        issuers = [(make_uscc(rng, region, "11"), f"{city}市{name}") for name in _ISSUERS]
        serial_no = 0
        while len(self._licences) < size:
            serial_no += 1
            made = self._make(rng, issuers, serial_no)
            if len(self._licences) + len(made) > size:
                made = made[-1:]  # a CHANGED licence never points outside the library
            for lic in made:
                self._licences[lic.identifier] = lic

    def _make(self, rng: random.Random, issuers: list[tuple[str, str]], n: int) -> list[Licence]:
        definer, suffix, name, surface_names = rng.choice(_TYPES)
        type_code = definer + gb32100_check_char(definer) + suffix
        issuer_code, issuer_name = rng.choice(issuers)
        issued = date(2018, 1, 1) + timedelta(days=rng.randrange(0, 365 * 7))
        serial = f"{self.region}{issued:%Y%m%d}{n:04d}"
        legal = rng.random() < 0.4
        if legal:
            holder_type, holder_code = "USCC", make_uscc(rng, self.region)
            holder = f"{_CITY.get(self.region, '')}{rng.choice(_COMPANY)}有限公司"
        else:
            holder_type, holder_code = "RESIDENT_ID", make_id_number(rng, self.region)
            holder = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        count = rng.randint(1, min(6, len(surface_names) + 1))
        surface = [SurfaceEntry("持证主体", holder)] + [
            SurfaceEntry(s, f"{s}{rng.randrange(1, 10_000)}") for s in surface_names[: count - 1]
        ]
        valid_to = issued + timedelta(days=365 * rng.randint(1, 10)) if rng.random() < 0.7 else None
        base: dict[str, Any] = {
            "name": name,
            "type_code": type_code,
            "number": f"{issued:%Y}{n:010d}",
            "holder_name": holder,
            "holder_id_type": holder_type,
            "holder_code": holder_code,
            "issuer_name": issuer_name,
            "issuer_code": issuer_code,
            "area_code": self.region,
            "issue_date": issued,
            "valid_from": issued,
            "valid_to": valid_to,
            "surface": tuple(surface),
        }
        first = Licence(identifier=_identifier(type_code, issuer_code, serial, "001"), status="VALID", **base)
        if rng.random() >= 0.15:
            return [first]
        # GB/T 36901: a changed licence is replaced by a new version and points at it (associated_id)
        newer = Licence(identifier=_identifier(type_code, issuer_code, serial, "002"), status="VALID", **base)
        changed = Licence(identifier=first.identifier, status="CHANGED", associated_id=newer.identifier, **base)
        return [changed, newer]

    def identifiers(self) -> list[str]:
        """Every identifier the library holds, in generation order."""
        return list(self._licences)

    def get(self, identifier: str) -> tuple[Licence, LicenceSignature]:
        """The licence and its issuer signature; ``KeyError`` when the library does not hold it."""
        licence = self._licences[identifier]
        signature = self._signatures.get(identifier)
        if signature is None:
            value = sm2_sign_b64(self._private, licence_signing_string(licence))
            signature = self._signatures[identifier] = LicenceSignature(value=value, cert_sn=self.cert_sn)
        return licence, signature

    def answer(
        self,
        call: InboundCall,
        consent: ConsentVerifier,
        now: float,
        *,
        identifier_field: str = "certificateIdentifier",
    ) -> LicenceAnswer:
        """Answer a licence query (see the module docstring for the order of checks).

        ``identifier_field`` names the query's identifier field in the caller's dialect (anhui by default).
        """
        query = call.record
        if not isinstance(query, LicenceQuery):
            raise Refusal(RejectionCode.MALFORMED, None, "not a licence query")
        if query.identifier not in self._licences:
            raise Refusal(RejectionCode.UNKNOWN_CODE, identifier_field, "no such licence")
        licence, signature = self.get(query.identifier)
        claims = consent.verify(query.consent_token, requester=None, licence=licence, now=now)
        self.jti_guard.use(str(claims["jti"]), float(claims["exp"]), now)
        return LicenceAnswer(licence, signature)
