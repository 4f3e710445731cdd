"""hunan bearer tokens (hunan.md §2) that every gateway worker and instance accepts, with no shared table.

Why: the endpoint used to keep issued tokens in a dict of one process, so behind a round-robin balancer a token
from instance A was unknown to instance B and the partner ended with ``AUTH_FAILED``. hunan.md only asks that a
token be opaque to the client, expire after ``expires_in``, and that an expired or unknown one be refused with
``401 AUTH_FAILED``. So the token carries its own grant (client id, scope, expiry) as an HS256 JWT (PyJWT, no
hand-made MAC) under a key every instance derives alike: HKDF-SHA256 over this side's Ed25519 message-signing key,
which every instance of one link holds. Verification is stateless and costs one HMAC. Rotating that key ends every
token in flight; a client then fetches a new one once, as §2 and ``Client._authorized`` already do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from signing.keys import SigningKey

__all__ = ["Grant", "TokenMinter"]

_ALG = "HS256"
_TYP = "tongban-hunan-bearer+jwt"  # a token of this kind is never mistaken for another HS256 JWT
_INFO = b"tongban hunan bearer token v1"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token grants: the authenticated client, its scopes and when the grant ends (epoch seconds)."""

    client_id: str
    scope: tuple[str, ...]
    expires_at: float


class TokenMinter:
    """Issues and checks self-contained bearer tokens for one link side (see the module docstring).

    ``issuer`` is this side's client id: a token minted for another link (another key, another issuer) fails.
    """

    def __init__(self, key: SigningKey, issuer: str) -> None:
        secret = key.private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._key = HKDF(hashes.SHA256(), 32, salt=None, info=_INFO + b"|" + issuer.encode()).derive(secret)
        self._issuer = issuer

    def __repr__(self) -> str:
        return f"TokenMinter({self._issuer})"

    def mint(self, client_id: str, scope: Sequence[str], now: float, lifetime: int) -> str:
        """A token for ``client_id`` and ``scope``, valid until ``now + lifetime`` (whole seconds)."""
        claims = {
            "iss": self._issuer,
            "sub": client_id,
            "scope": " ".join(scope),
            "iat": int(now),
            "exp": int(now) + lifetime,
        }
        return jwt.encode(claims, self._key, algorithm=_ALG, headers={"typ": _TYP})

    def grant(self, token: str, now: float) -> Grant | None:
        """The grant of a valid, unexpired token minted under this key and issuer, else ``None``.

        Expiry is checked against ``now`` (the endpoint's injectable clock), not PyJWT's wall clock."""
        try:
            if jwt.get_unverified_header(token).get("typ") != _TYP:
                return None
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALG],
                issuer=self._issuer,
                options={"verify_exp": False, "verify_iat": False, "require": ["iss", "sub", "scope", "exp"]},
            )
        except jwt.PyJWTError:
            return None
        sub, scope, exp = claims["sub"], claims["scope"], claims["exp"]
        if not isinstance(sub, str) or not isinstance(scope, str) or not isinstance(exp, int) or exp <= now:
            return None
        return Grant(sub, tuple(scope.split()), float(exp))
