"""JWT issue and verify (RFC 7519) through PyJWT, with an explicit allow-list and an injected clock.

Used for holder consent tokens and RFC 7523 client assertions. Verification order, all fail-closed:

1. read the header without trusting it: ``alg`` must be in the caller's allow-list, be an asymmetric algorithm
   this module supports (``ES256``, ``EdDSA``, ``RS256``: ``none`` and every ``HS*`` are refused outright, so an
   HMAC keyed with a public key cannot happen) and equal the registered key's own algorithm; ``kid`` must be
   known; ``typ`` must equal the required value when one is given; ``crit`` is refused;
2. PyJWT checks the signature, audience, issuer and required claims with exactly that one algorithm;
3. times are checked here against the caller's ``now`` (not the process clock): ``exp``, ``nbf``, ``iat`` with
   ``leeway``, and an optional maximum lifetime ``exp - iat``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import jwt as pyjwt

from signing.errors import SignatureInvalid, TokenInvalid, UnknownKey
from signing.keys import ALG_EDDSA, ALG_ES256, ALG_RS256, KeyRing, SigningKey, VerificationKey

__all__ = ["JWT_ALGS", "issue_jwt", "verify_jwt"]

JWT_ALGS = frozenset({ALG_ES256, ALG_EDDSA, ALG_RS256})
_MAX_TOKEN = 8192


def issue_jwt(claims: Mapping[str, Any], key: SigningKey, *, typ: str | None = "JWT") -> str:
    """Sign ``claims`` with ``key``; header ``{"alg","kid","typ"}``. The caller sets ``iat``/``exp``."""
    if key.alg not in JWT_ALGS:
        raise SignatureInvalid("alg_not_allowed", f"JWT does not sign with {key.alg}")
    headers: dict[str, Any] = {"kid": key.kid}
    if typ is not None:
        headers["typ"] = typ
    return pyjwt.encode(dict(claims), key.private, algorithm=key.alg, headers=headers)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid("bad_claim", f"claim {name} is not a number")
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits: no time, and not a crash either
        raise TokenInvalid("bad_claim", f"claim {name} is out of range") from None


def _check_times(claims: Mapping[str, Any], now: float, leeway: float, max_lifetime: float | None) -> None:
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if exp is not None and now > exp + leeway:
        raise TokenInvalid("expired", "token has expired")
    if nbf is not None and now < nbf - leeway:
        raise TokenInvalid("not_yet_valid", "token is not valid yet (nbf)")
    if iat is not None and iat > now + leeway:
        raise TokenInvalid("not_yet_valid", "token is issued in the future (iat)")
    if max_lifetime is not None:
        if exp is None or iat is None:
            raise TokenInvalid("missing_claim", "lifetime check needs exp and iat")
        if exp - iat > max_lifetime:
            raise TokenInvalid("lifetime_too_long", f"exp - iat exceeds {max_lifetime:g} s")


def verify_jwt(
    token: str,
    keys_by_kid: Mapping[str, VerificationKey] | KeyRing,
    allowed_algs: Collection[str],
    *,
    now: float,
    audience: str | None = None,
    issuer: str | None = None,
    required_claims: Collection[str] = ("exp", "iat"),
    typ: str | None = None,
    leeway: float = 0.0,
    max_lifetime: float | None = None,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims.

    ``audience``/``issuer`` are required values when given; a token carrying ``aud`` is refused when no
    audience is given. Raises :class:`SignatureInvalid` (malformed, refused header, bad signature),
    :class:`UnknownKey`, or :class:`TokenInvalid` (claims).
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        raise SignatureInvalid("missing_token", "no token")
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError as exc:
        raise SignatureInvalid("malformed_token", "token header is unreadable") from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs or alg not in JWT_ALGS:
        raise SignatureInvalid("alg_not_allowed", "token alg is not in the allow-list")
    if "crit" in header:
        raise SignatureInvalid("crit_not_allowed", "token header carries crit")
    if typ is not None and header.get("typ") != typ:
        raise SignatureInvalid("typ_not_allowed", "token typ is not the required one")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureInvalid("kid_missing", "token header has no kid")
    key = keys_by_kid.verification.get(kid) if isinstance(keys_by_kid, KeyRing) else keys_by_kid.get(kid)
    if key is None:
        raise UnknownKey(detail="token kid is not registered")
    if key.alg != alg:
        raise SignatureInvalid("alg_key_mismatch", "token alg does not match the registered key's algorithm")

    options: dict[str, Any] = {
        "verify_signature": True,
        "verify_exp": False,  # checked below against the injected clock
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": True,
        "verify_iss": issuer is not None,
        "require": list(required_claims),
    }
    try:
        claims: dict[str, Any] = pyjwt.decode(
            token,
            key.public,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options=options,  # type: ignore[arg-type]
        )
    except pyjwt.InvalidSignatureError as exc:
        raise SignatureInvalid("bad_signature", "token signature does not verify") from exc
    except pyjwt.InvalidAudienceError as exc:
        raise TokenInvalid("wrong_audience", "token is for another audience") from exc
    except pyjwt.InvalidIssuerError as exc:
        raise TokenInvalid("wrong_issuer", "token is from another issuer") from exc
    except pyjwt.MissingRequiredClaimError as exc:
        raise TokenInvalid("missing_claim", f"token lacks claim {exc.claim}") from exc
    except pyjwt.DecodeError as exc:
        raise SignatureInvalid("malformed_token", "token is malformed") from exc
    except pyjwt.PyJWTError as exc:
        raise TokenInvalid("token_invalid", type(exc).__name__) from exc
    _check_times(claims, now, leeway, max_lifetime)
    return claims
