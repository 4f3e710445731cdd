"""一码办 through the gateway: a partner queries a licence with the holder's consent; the issuer answers it signed."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from pipeline_stack import Stack

from gateway.consent import issue_consent
from gateway.delivery import PermanentRefusal
from gateway.licences import issuing_region
from gateway.links import dev_link_settings
from gateway.model.licence_sign import licence_signing_string
from gateway.model.records import LicenceQuery
from gateway.simulate.licences import LicenceLibrary
from gateway.wire.anhui import dev_consent_key, load_link
from signing.keys import public_key_of
from signing.sm import sm2_verify_b64


def hefei_library(stack: Stack) -> LicenceLibrary:
    _, sides = dev_link_settings(stack.config.dev_credentials, stack.config.registry)  # type: ignore[arg-type]
    link = load_link(sides["hefei"].settings, sides["hefei"].base)
    assert link.licence_key is not None
    return LicenceLibrary(link.licence_key, link.licence_cert_sn, "340100")


def consent(stack: Stack, licence: Any, *, aud: str = "ningbo", scope: str | None = None, **extra: Any) -> str:
    key = dev_consent_key(stack.config.dev_credentials, "hefei")  # type: ignore[arg-type]
    return issue_consent(key, sub=licence.holder_code, aud=aud, scope=scope or licence.type_code,
                         purpose="3302002506000000417", now=extra.pop("now", time.time()), jti=str(uuid.uuid4()),
                         **extra)


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
    with pytest.raises(PermanentRefusal) as info:
        await stack.partner_client("ningbo").query_licence(query, "q-2")
    assert info.value.code == "CONSENT_INVALID", reason


async def test_consent_is_single_use_and_needed(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[2]
    licence, _ = library.get(identifier)
    token = consent(stack, licence, aud="songjiang")
    client = stack.partner_client("songjiang")
    await client.query_licence(LicenceQuery(identifier, "核验", token), "q-3")
    with pytest.raises(PermanentRefusal) as info:
        await client.query_licence(LicenceQuery(identifier, "核验", token), "q-4")
    assert info.value.code == "CONSENT_INVALID"
    with pytest.raises(PermanentRefusal) as info:
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
    with pytest.raises(PermanentRefusal) as info:
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
        surface = (replace(answer.licence.surface[0], value=answer.licence.surface[0].value + "（改）"),
                   *answer.licence.surface[1:])
        return LicenceAnswer(replace(answer.licence, surface=surface), answer.signature)

    sim.extras["licence_query"] = tampering
    library = hefei_library(stack)
    identifier = library.identifiers()[4]
    licence, _ = library.get(identifier)
    with pytest.raises(PermanentRefusal) as info:
        await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", consent(stack, licence)),
                                                           "q-7")
    assert info.value.code == "SIGNATURE_INVALID"


async def test_a_query_without_consent_is_consent_invalid(stack: Stack) -> None:
    library = hefei_library(stack)
    identifier = library.identifiers()[5]
    with pytest.raises(PermanentRefusal) as info:
        await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", None), "q-8")
    assert info.value.code == "CONSENT_INVALID"
