"""hunan.md §2 bearer tokens that hold on every worker and instance: self-contained, signed, expiring."""

from __future__ import annotations

import jwt
import pytest

from adapters.hunan.tokens import Grant, TokenMinter
from signing.devpki import generate_ed25519
from signing.keys import ALG_EDDSA, SigningKey

T0 = 1_767_225_600.0
SCOPES = ("kstb.case", "kstb.status")


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("gw-ed25519-01", ALG_EDDSA, generate_ed25519())


def test_a_token_from_one_minter_is_granted_by_another_holding_the_same_key(key: SigningKey) -> None:
    token = TokenMinter(key, "tongban-gw").mint("changsha", SCOPES, T0, 600)
    assert TokenMinter(key, "tongban-gw").grant(token, T0 + 599) == Grant("changsha", SCOPES, T0 + 600)


def test_a_token_ends_at_its_expiry(key: SigningKey) -> None:
    minter = TokenMinter(key, "tongban-gw")
    token = minter.mint("changsha", SCOPES, T0, 600)
    assert minter.grant(token, T0 + 600) is None


def test_a_token_under_another_key_or_issuer_is_unknown(key: SigningKey) -> None:
    token = TokenMinter(key, "tongban-gw").mint("changsha", SCOPES, T0, 600)
    other = SigningKey("other-ed25519-01", ALG_EDDSA, generate_ed25519())
    assert TokenMinter(other, "tongban-gw").grant(token, T0) is None
    assert TokenMinter(key, "another-gw").grant(token, T0) is None


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[::-1],
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "not a token",
        lambda t: "",
        # a token with the scope widened, re-encoded without the key: its MAC no longer matches
        lambda t: ".".join(
            [
                t.split(".")[0],
                jwt.utils.base64url_encode(
                    b'{"iss":"tongban-gw","sub":"changsha","scope":"kstb.case kstb.status admin","exp":9999999999}'
                ).decode(),
                t.split(".")[2],
            ]
        ),
        # alg none, typ copied: refused by the allow-list
        lambda t: jwt.encode(
            {"iss": "tongban-gw", "sub": "changsha", "scope": "kstb.case", "exp": 9999999999},
            None,
            algorithm="none",
            headers={"typ": jwt.get_unverified_header(t)["typ"]},
        ),
    ],
)
def test_a_forged_or_altered_token_is_unknown(key: SigningKey, forge: object) -> None:
    minter = TokenMinter(key, "tongban-gw")
    token = minter.mint("changsha", ("kstb.case",), T0, 600)
    assert callable(forge)
    assert minter.grant(forge(token), T0) is None


def test_an_hs256_jwt_of_another_kind_under_the_same_key_is_not_a_token(key: SigningKey) -> None:
    minter = TokenMinter(key, "tongban-gw")
    token = minter.mint("changsha", SCOPES, T0, 600)
    header, payload, _ = token.split(".")
    assert minter.grant(token, T0) is not None
    assert minter.grant(".".join([jwt.utils.base64url_encode(b'{"alg":"HS256"}').decode(), payload, "x"]), T0) is None
    assert "changsha" not in repr(minter) and header
