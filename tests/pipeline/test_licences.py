"""一码办 through the gateway: a partner queries a licence with the holder's consent; the issuer answers it signed."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from pipeline_stack import Stack, _config

from adapters.anhui.roles import dev_consent_key, load_link
from adapters.anhui.scheme import H_JWS, PATHS, render_answer, sign_body
from gateway.consent import issue_consent
from gateway.delivery import DeliveryError
from gateway.errors import UNKNOWN_PEER_CODE_FALLBACK, Refusal, Side
from gateway.licences import JTI_SCOPE, issuing_region
from gateway.links import dev_link_settings
from gateway.model.identifiers import mod37_36
from gateway.model.licence_sign import licence_signing_string
from gateway.model.records import LicenceQuery
from gateway.simulate.licences import LicenceLibrary
from signing.keys import ALG_ES256, SigningKey, public_key_of
from signing.sm import sm2_verify_b64

CONSENT_ISS = "https://akm.ahzwfw.gov.cn"  # anhui.md §6.6: the consent issuer of these tests


def hefei_library(stack: Stack) -> LicenceLibrary:
    _, sides = dev_link_settings(stack.config.dev_credentials, stack.config.registry)  # type: ignore[arg-type]
    link = load_link(sides["hefei"].settings, sides["hefei"].base)
    assert link.licence_key is not None
    return LicenceLibrary(link.licence_key, link.licence_cert_sn, "340100")


def consent(stack: Stack, licence: Any, *, aud: str = "ningbo", scope: str | None = None, **extra: Any) -> str:
    key = dev_consent_key(stack.config.dev_credentials, "hefei")  # type: ignore[arg-type]
    return issue_consent(
        key,
        sub=licence.holder_code,
        aud=aud,
        scope=scope or licence.type_code,
        purpose="3302002506000000417",
        now=extra.pop("now", time.time()),
        jti=str(uuid.uuid4()),
        issuer=extra.pop("issuer", CONSENT_ISS),
        **extra,
    )


async def test_ningbo_gets_a_hefei_licence_with_consent(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[0]
    assert issuing_region(identifier) == "340100"
    licence, _ = library.get(identifier)
    query = LicenceQuery(identifier, "跨省通办办件 核验", consent(stack, licence))
    answer = await stack.partner_client("ningbo").query_licence(query, "q-1")
    assert answer.licence == licence
    assert answer.signature is not None
    # the issuer's signature travelled with it (zlb datas.digitalSign) and verifies over the reference values with
    # the Hefei issuer's public key (anhui.md §6.6): raises SignatureInvalid otherwise
    _, sides = dev_link_settings(stack.config.dev_credentials, stack.config.registry)  # type: ignore[arg-type]
    issuer = load_link(sides["hefei"].settings, sides["hefei"].base).licence_key
    assert issuer is not None
    sm2_verify_b64(public_key_of(issuer.private), answer.signature.value, licence_signing_string(answer.licence))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "songjiang"}, "another requester"),
        ({"scope": "11100000MB3L0DD70W017"}, "out of scope"),
        ({"now": time.time() - 3600}, "expired"),
    ],
)
async def test_consent_refusals(stack: Stack, change: dict[str, Any], reason: str) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[1]
    licence, _ = library.get(identifier)
    query = LicenceQuery(identifier, "核验", consent(stack, licence, **change))
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").query_licence(query, "q-2")
    assert info.value.code == "CONSENT_INVALID", reason


async def test_consent_is_single_use_and_needed(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[2]
    licence, _ = library.get(identifier)
    token = consent(stack, licence, aud="songjiang")
    client = stack.partner_client("songjiang")
    await client.query_licence(LicenceQuery(identifier, "核验", token), "q-3")
    with pytest.raises(Refusal) as info:
        await client.query_licence(LicenceQuery(identifier, "核验", token), "q-4")
    assert info.value.code == "CONSENT_INVALID"
    with pytest.raises(Refusal) as info:
        await client.query_licence(LicenceQuery(identifier, "核验", "not-a-token"), "q-5")
    assert info.value.code == "CONSENT_INVALID"


async def test_unknown_licence_and_unserved_issuer(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[3]
    licence, _ = library.get(identifier)
    client = stack.partner_client("ningbo")
    unknown = replace(licence, identifier=identifier)  # same holder and type, other serial below
    parts = identifier.split(".")
    from gateway.model.identifiers import mod37_36

    parts[7] = "999999999999"
    body = (parts[5] + parts[6] + parts[7] + parts[8]).upper()
    parts[9] = mod37_36(body)
    missing = ".".join(parts)
    with pytest.raises(Refusal) as info:
        await client.query_licence(LicenceQuery(missing, "核验", consent(stack, unknown)), "q-6")
    assert info.value.code == "UNKNOWN_CODE"


async def test_a_tampered_licence_from_the_issuer_is_refused(stack: Stack) -> None:
    """The issuing platform answers a licence whose content no longer matches its SM2 signature (a changed
    surface value): the gateway's client for the issuer refuses it, and the requester gets SIGNATURE_INVALID."""
    from gateway.wire.base import LicenceAnswer

    sim = stack.sims["hefei"].sim
    honest = sim.extras["licence_query"]

    async def tampering(call: Any) -> LicenceAnswer:
        answer: LicenceAnswer = await honest(call)
        surface = (
            replace(answer.licence.surface[0], value=answer.licence.surface[0].value + "（改）"),
            *answer.licence.surface[1:],
        )
        return LicenceAnswer(replace(answer.licence, surface=surface), answer.signature)

    sim.extras["licence_query"] = tampering
    library = hefei_library(stack)
    identifier = library.identifiers()[4]
    licence, _ = library.get(identifier)
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").query_licence(
            LicenceQuery(identifier, "核验", consent(stack, licence)), "q-7"
        )
    assert info.value.code == "SIGNATURE_INVALID"


async def test_a_query_without_consent_is_consent_invalid(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[5]
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", None), "q-8")
    assert info.value.code == "CONSENT_INVALID"


# --- issue 11 item 1: nothing about a holder leaves the gateway before their consent is verified ------------------


def _other_es256_key(kid: str) -> SigningKey:
    """An ES256 key the gateway does not know, under the real issuer's kid: a forged consent."""
    return SigningKey(kid, ALG_ES256, ec.generate_private_key(ec.SECP256R1()))


def _refused_consents(stack: Stack, licence: Any) -> dict[str, str | None]:
    key = dev_consent_key(stack.config.dev_credentials, "hefei")  # type: ignore[arg-type]
    now = time.time()
    return {
        "no token": None,
        "not a token": "not-a-token",
        "another requester": consent(stack, licence, aud="songjiang"),
        "the other site's platform": consent(stack, licence, aud="huainan"),
        "out of scope": consent(stack, licence, scope="11100000MB3L0DD70W017"),
        "expired": consent(stack, licence, now=now - 3600),
        "issued in the future": consent(stack, licence, now=now + 3600),
        "lifetime over 600 s": consent(stack, licence, lifetime=601),
        "wrong signature": issue_consent(
            _other_es256_key(key.kid),
            sub=licence.holder_code,
            aud="ningbo",
            scope=licence.type_code,
            purpose="3302002506000000417",
            now=now,
            issuer=CONSENT_ISS,
        ),
        "unknown key id": issue_consent(
            _other_es256_key("nobody-consent-01"),
            sub=licence.holder_code,
            aud="ningbo",
            scope=licence.type_code,
            purpose="p",
            now=now,
            issuer=CONSENT_ISS,
        ),
    }


async def test_a_refused_consent_sends_nothing_to_the_issuing_platform(stack: Stack) -> None:
    """Issue 11 item 1: every refused consent is refused by the gateway itself; hefei's simulator receives no
    request at all (its request log), whatever the reason."""
    library = hefei_library(stack)
    identifier = library.identifiers()[6]
    licence, _ = library.get(identifier)
    issuer = stack.sims["hefei"].sim
    client = stack.partner_client("ningbo")
    for number, (case, token) in enumerate(_refused_consents(stack, licence).items()):
        before = len(issuer.requests)
        with pytest.raises(Refusal) as info:
            await client.query_licence(LicenceQuery(identifier, "核验", token), f"q-r{number}")
        assert info.value.code == "CONSENT_INVALID", case
        assert len(issuer.requests) == before, f"{case}: the issuer received {list(issuer.requests)[before:]}"


async def test_a_reused_consent_is_refused_before_the_issuing_platform(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[7]
    licence, _ = library.get(identifier)
    issuer = stack.sims["hefei"].sim
    client = stack.partner_client("ningbo")
    token = consent(stack, licence)
    assert (await client.query_licence(LicenceQuery(identifier, "核验", token), "q-u1")).licence == licence
    before = len(issuer.requests)
    assert before > 0  # the request log does see the query that was let through
    with pytest.raises(Refusal) as info:
        await client.query_licence(LicenceQuery(identifier, "核验", token), "q-u2")
    assert info.value.code == "CONSENT_INVALID"
    assert len(issuer.requests) == before


async def test_a_token_refused_for_a_wrong_requester_still_serves_its_rightful_audience(stack: Stack) -> None:
    """Issue 11 item 1: ningbo presenting songjiang's token once spent it at the issuer, so songjiang was refused
    with its own genuine token. Now the refusal spends nothing, at the gateway or at the issuer."""
    library = hefei_library(stack)
    identifier = library.identifiers()[8]
    licence, _ = library.get(identifier)
    issuer = stack.sims["hefei"].sim
    token = consent(stack, licence, aud="songjiang")
    before = len(issuer.requests)
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", token), "q-w1")
    assert info.value.code == "CONSENT_INVALID"
    assert len(issuer.requests) == before
    answer = await stack.partner_client("songjiang").query_licence(LicenceQuery(identifier, "核验", token), "q-w2")
    assert answer.licence == licence


async def test_a_failed_exchange_does_not_spend_the_token(stack: Stack) -> None:
    """The ``jti`` is reserved before the query and released when the exchange fails: the issuer refusing (a
    licence it does not hold, in the token's scope) or being down leaves the token usable for the real licence."""
    library = hefei_library(stack)
    identifier = library.identifiers()[9]
    licence, _ = library.get(identifier)
    client = stack.partner_client("ningbo")
    token = consent(stack, licence)
    with pytest.raises(Refusal) as info:
        await client.query_licence(LicenceQuery(_unheld(identifier), "核验", token), "q-f1")
    assert info.value.code == "UNKNOWN_CODE"
    stack.sims["hefei"].plan.update({"down_until": time.time() + 60})
    with pytest.raises(DeliveryError) as down:
        await client.query_licence(LicenceQuery(identifier, "核验", token), "q-f2")
    assert not isinstance(down.value, Refusal)
    stack.sims["hefei"].plan.update({"down_until": 0})
    assert (await client.query_licence(LicenceQuery(identifier, "核验", token), "q-f3")).licence == licence


def _unheld(identifier: str) -> str:
    """An identifier of the same type and issuer with a serial the issuer does not hold (valid check character)."""
    parts = identifier.split(".")
    parts[7] = "999999999999"
    parts[9] = mod37_36((parts[5] + parts[6] + parts[7] + parts[8]).upper())
    return ".".join(parts)


# --- issue 13: a peer's code the gateway does not know ----------------------------------------------------------


async def test_an_issuer_answering_not_found_is_a_refusal_not_a_500(
    store_url: str, make_stack: Any, dev_folder: Path
) -> None:
    """Issue 13: hefei answering a licence query with ``NOT_FOUND`` (no README §10 code) was ``ValueError`` and a
    signed 500. A peer's code is parsed once (``gateway.errors.peer_code``): the requester gets the documented
    fallback, a permanent refusal, and the token stays unspent."""
    registry = _config(dev_folder, store_url, {}).registry
    _, sides = dev_link_settings(dev_folder, registry)
    hefei = load_link(sides["hefei"].settings, sides["hefei"].base)
    seen: list[str] = []

    async def not_found(request: web.Request) -> web.Response:
        seen.append(request.path)
        body = render_answer({"errorCode": "NOT_FOUND", "field": "certificateIdentifier"}, code="400", msg="证照不存在")
        return web.Response(body=body, headers={H_JWS: sign_body(body, hefei.jws_key)}, content_type="application/json")

    peer = web.Application()
    peer.add_routes([web.post(PATHS["licence_query"], not_found)])
    runner = web.AppRunner(peer, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        built = await make_stack(store_url, extra={"platforms": {"hefei": {"base_url": f"http://127.0.0.1:{port}"}}})
        library = hefei_library(built)
        identifier = library.identifiers()[10]
        licence, _ = library.get(identifier)
        token = consent(built, licence)
        client = built.partner_client("ningbo")
        with pytest.raises(Refusal) as info:
            await client.query_licence(LicenceQuery(identifier, "核验", token), "q-n1")
        assert info.value.code == UNKNOWN_PEER_CODE_FALLBACK.value
        assert info.value.side is Side.PEER  # the gateway answered ningbo with a refusal, in ningbo's dialect
        assert seen == [PATHS["licence_query"]]
        # the refused exchange spent nothing: the token's jti is not in the store's nonce table
        jti = pyjwt.decode(token, options={"verify_signature": False})["jti"]
        assert await built.store.remember_nonce(JTI_SCOPE, jti, time.time() + 60, time.time())
    finally:
        await runner.cleanup()


async def test_the_same_token_twice_at_once_reaches_the_issuer_once(stack: Stack) -> None:
    """The ``jti`` is reserved in the shared nonce table before the query: of two concurrent uses, one is refused
    without asking the issuer."""
    library = hefei_library(stack)
    identifier = library.identifiers()[11]
    licence, _ = library.get(identifier)
    issuer = stack.sims["hefei"].sim
    token = consent(stack, licence)
    before = len(issuer.requests)

    async def use(n: int) -> str:
        try:
            await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", token), f"q-c{n}")
        except Refusal as exc:
            return exc.code
        return "OK"

    assert sorted(await asyncio.gather(use(1), use(2))) == ["CONSENT_INVALID", "OK"]
    assert len(issuer.requests) == before + 1


async def test_a_consent_for_another_holder_is_refused_and_spends_nothing(stack: Stack) -> None:
    """The holder is the one check that needs the licence, so it is the one refusal the issuer sees (anhui.md §6.6;
    docs/decisions.md). The gateway passes on CONSENT_INVALID and releases the token's reservation."""
    library = hefei_library(stack)
    identifier = library.identifiers()[12]
    licence, _ = library.get(identifier)
    other, _ = library.get(library.identifiers()[13])
    assert other.holder_code != licence.holder_code
    token = consent(stack, replace(licence, holder_code=other.holder_code))
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", token), "q-h1")
    assert info.value.code == "CONSENT_INVALID"
    jti = pyjwt.decode(token, options={"verify_signature": False})["jti"]
    assert await stack.store.remember_nonce(JTI_SCOPE, jti, time.time() + 60, time.time())
