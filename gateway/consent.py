"""Holder consent tokens for licence queries (anhui.md §6.6, README §10 ``CONSENT_INVALID``).

A licence query carries a JWT (ES256) issued by the holder's home platform. Whoever serves or forwards a licence
checks it against the licence it is about to hand out: the issuing platform with ``requester=None`` (it answers a
query the gateway forwards on behalf of the real requester, so it cannot know the audience), the gateway with the
real requester. Every failure is one ``Refusal(CONSENT_INVALID, "consentToken", reason)``; the reason names what
failed, never the token, the holder code or a claim value (they are personal data).

The gateway splits the check in two (docs/decisions.md, "Consent before disclosure"): :meth:`ConsentVerifier.admit`
runs every check that needs only the query (issuer's key, the real requester as audience, the licence type code in
``scope``, expiry, lifetime, a ``jti``) BEFORE anything is sent to the issuing platform; :meth:`check_holder` runs
the one check that needs the licence (``sub`` is its holder) on the answer, before the requester sees it.

Single use of ``jti`` is a separate concern (:class:`ConsentJtiGuard`): the verifier answers "is this token
acceptable for this licence now", the guard "has it been used before".
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import jwt as pyjwt

from gateway.errors import Refusal, RejectionCode
from gateway.model.records import Licence
from signing.errors import SigningError
from signing.jwt import issue_jwt, verify_jwt
from signing.keys import ALG_ES256, SigningKey, VerificationKey

__all__ = [
    "CONSENT_FIELD",
    "MAX_LIFETIME",
    "ConsentJtiGuard",
    "ConsentVerifier",
    "InMemoryJtiGuard",
    "check_holder",
    "issue_consent",
]

CONSENT_FIELD = "consentToken"
MAX_LIFETIME = 600  # anhui.md §6.6: exp - iat <= 600
_ALLOWED = frozenset({ALG_ES256})  # anhui.md §6.6: ES256 only
_REQUIRED = ("sub", "aud", "scope", "jti", "iat", "exp")


def _refuse(reason: str) -> Refusal:
    return Refusal(RejectionCode.CONSENT_INVALID, CONSENT_FIELD, reason)


class ConsentVerifier:
    """Verify a consent token against one licence, with an allow-list of ES256 keys by kid."""

    def __init__(self, keys: Mapping[str, VerificationKey], issuer: str | None = None) -> None:
        self._keys = {kid: key for kid, key in keys.items() if key.alg == ALG_ES256}
        self._issuer = issuer

    def verify(self, token: str | None, *, requester: str | None, licence: Licence, now: float) -> dict[str, Any]:
        """The token's claims when it allows ``requester`` to see ``licence`` at ``now``; else ``Refusal``.

        ``requester=None`` skips only the audience check (see the module docstring). A query without a token is
        ``CONSENT_INVALID`` too (README §10: "without a valid holder consent token").
        """
        claims = self.admit(token, requester=requester, type_code=licence.type_code, now=now)
        check_holder(claims, licence)
        return claims

    def admit(self, token: str | None, *, requester: str | None, type_code: str, now: float) -> dict[str, Any]:
        """The token's claims when it lets ``requester`` see a licence of ``type_code`` at ``now``; else ``Refusal``.

        Everything but the holder: this is what can be known before the licence is fetched, so a token that fails
        here never leaves the gateway (the licence type code is part of the licence identifier, GB/T 36904).
        """
        if not token:
            raise _refuse("missing_token")
        try:
            claims = verify_jwt(
                token,
                self._keys,
                _ALLOWED,
                now=now,
                audience=requester if requester is not None else _claimed_audience(token),
                issuer=self._issuer,
                required_claims=_REQUIRED,
                max_lifetime=MAX_LIFETIME,
            )
        except SigningError as exc:  # TokenInvalid, SignatureInvalid, UnknownKey: all one code here
            raise _refuse(exc.reason) from exc
        scope = claims.get("scope")
        if not isinstance(scope, str) or type_code not in scope.split(" "):
            raise _refuse("out_of_scope")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _refuse("missing_subject")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _refuse("missing_jti")
        return claims


def check_holder(claims: Mapping[str, Any], licence: Licence) -> None:
    """``Refusal(CONSENT_INVALID)`` unless the admitted ``claims`` are the consent of ``licence``'s holder.

    The scope is checked again against the licence itself: its type code must equal the identifier's type part
    (README §5.4, a decoder rule), and checking it here keeps the guarantee if that rule ever moved.
    """
    scope = claims.get("scope")
    if not isinstance(scope, str) or licence.type_code not in scope.split(" "):
        raise _refuse("out_of_scope")
    if claims.get("sub") != licence.holder_code:
        raise _refuse("wrong_subject")


def _claimed_audience(token: str) -> str | None:
    """The token's own ``aud``, read unverified: PyJWT refuses a token with ``aud`` unless given one.

    Used only when the audience check is skipped (``requester=None``); the signature is still verified over the
    whole token, so the value cannot be swapped.
    """
    try:
        aud = pyjwt.decode(token, options={"verify_signature": False}).get("aud")
    except pyjwt.PyJWTError:
        return None  # verify_jwt refuses the token itself with a proper reason
    return aud if isinstance(aud, str) else None


@runtime_checkable
class ConsentJtiGuard(Protocol):
    """Single use of a consent token's ``jti``: the first use is recorded, any later one refused."""

    def use(self, jti: str, expires: float, now: float) -> None:
        """Record ``jti`` until ``expires`` or raise ``Refusal(CONSENT_INVALID)`` if already used."""


class InMemoryJtiGuard:
    """A bounded in-process set of used ``jti`` values, each kept until its token expires."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._used: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._used)

    def use(self, jti: str, expires: float, now: float) -> None:
        """See :class:`ConsentJtiGuard`."""
        # insertion order is nearly expiry order (lifetimes are at most 600 s): drop expired entries from the
        # front; an out-of-order one goes a little later, never before its token has expired
        while self._used:
            old, until = next(iter(self._used.items()))
            if until >= now:
                break
            del self._used[old]
        if jti in self._used:
            raise _refuse("jti_reused")
        self._used[jti] = max(expires, now)
        while len(self._used) > self._max:
            self._used.popitem(last=False)


def issue_consent(
    key: SigningKey,
    *,
    sub: str,
    aud: str,
    scope: str,
    purpose: str,
    now: float,
    jti: str | None = None,
    lifetime: int = MAX_LIFETIME,
    issuer: str,
) -> str:
    """A consent token as a holder's home platform issues it (tests and the demo); ``issuer`` is the ``iss`` of the
    home platform's dialect (``Dialect.consent_issuer``)."""
    claims = {
        "iss": issuer,
        "sub": sub,
        "aud": aud,
        "scope": scope,
        "purpose": purpose,
        "jti": jti or str(uuid.uuid4()),
        "iat": int(now),
        "exp": int(now) + lifetime,
    }
    return issue_jwt(claims, key)
