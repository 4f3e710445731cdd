"""The g60 simulators' extras beyond submissions (licence queries, catalogue pages, item batches).

Kept apart from the wire scheme so the scheme never depends on the simulators.
"""

from __future__ import annotations

from typing import Any

from adapters.g60.codec import (
    batch_no,
)
from adapters.g60.roles import _IDENTIFIER, Link, _sent_names
from gateway.consent import CONSENT_FIELD, ConsentVerifier
from gateway.errors import Refusal
from gateway.simulate.licences import LicenceLibrary
from gateway.wire.base import (
    BatchResult,
    InboundCall,
    ItemResult,
    LicenceAnswer,
    WireContext,
)

__all__ = ['install_simulator_extras']


def install_simulator_extras(sim: Any, spec: Any, ctx: WireContext) -> None:
    """The simulated hub and map: per-item batch results (§9) and licence queries (§6.3) from a library.

    ``spec.options``: ``licences`` (a ``LicenceLibrary``; default one signed with the link's ``licence_sign_key``,
    of ``licence_region`` (340100), ``licence_seed``, ``licence_count``), ``consent`` (a ``ConsentVerifier``) or
    ``consent_keys`` (kid → ES256 ``VerificationKey``).
    """
    first: dict[str, BatchResult] = {}

    async def item_batch(call: InboundCall) -> BatchResult:
        if call.message_id in first:  # §7: a repeated MessageId gets the first answer
            return first[call.message_id]
        results = []
        names = _sent_names(ctx, call.body) if any(isinstance(e, Refusal) for e in call.record) else []
        for i, entry in enumerate(call.record):
            if isinstance(entry, Refusal):
                results.append(ItemResult(*names[i], False, entry.code.value, entry.where))
                continue
            sim.book.accept(InboundCall(call.platform, call.caller, "item", entry))
            results.append(ItemResult(entry.item_code, entry.region, True))
        result = BatchResult(batch_no(call.message_id or ""), tuple(results))
        if call.message_id:
            first[call.message_id] = result
        return result

    sim.extras["item_batch"] = item_batch
    link: Link = ctx.link
    library = spec.options.get("licences")
    if library is None and link.licence_signer is not None:
        cert_sn, key = link.licence_signer
        library = LicenceLibrary(key, cert_sn, str(spec.options.get("licence_region", "340100")),
                                 int(spec.options.get("licence_seed", 0)),
                                 int(spec.options.get("licence_count", 50)))
    if library is None:
        return
    consent = spec.options.get("consent") or ConsentVerifier(spec.options.get("consent_keys", {}))

    async def licence_query(call: InboundCall) -> LicenceAnswer:
        try:
            answer: LicenceAnswer = library.answer(call, consent, ctx.clock(), identifier_field=_IDENTIFIER)
        except Refusal as exc:
            raise (exc.at("LicenceQuery/ConsentToken") if exc.where == CONSENT_FIELD else exc) from None
        return answer

    sim.extras["licence_query"] = licence_query
