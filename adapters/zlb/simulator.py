"""The zlb simulators' extras beyond submissions (licence queries, catalogue pages, item batches).

Kept apart from the wire scheme so the scheme never depends on the simulators.
"""

from __future__ import annotations

from adapters.zlb.roles import Link
from gateway.consent import CONSENT_FIELD, ConsentVerifier
from gateway.errors import Refusal
from gateway.simulate.app import SimulatedPlatform, SimulatorSpec
from gateway.simulate.licences import LicenceLibrary
from gateway.wire.base import (
    InboundCall,
    InboundResult,
    WireContext,
)

__all__ = ['install_simulator_extras']


def install_simulator_extras(sim: SimulatedPlatform, spec: SimulatorSpec, ctx: WireContext) -> None:
    """Licence queries answered from a ``LicenceLibrary`` (``spec.options["licence_library"]``, or one built from
    the link's licence key), consent checked by ``spec.options["consent_verifier"]`` or by a verifier over
    ``spec.options["consent_keys"]`` (kid → ES256 ``VerificationKey``). Without a library or licence key: none.
    """
    options = spec.options
    library: LicenceLibrary | None = options.get("licence_library")
    link: Link = ctx.link
    if library is None and link.licence_key is not None:
        size, seed = int(options.get("licence_size", 200)), int(options.get("licence_seed", 0))
        library = LicenceLibrary(link.licence_key, link.licence_cert_sn, ctx.platform.region, seed=seed, size=size)
    if library is None:
        return
    verifier: ConsentVerifier = options.get("consent_verifier") or ConsentVerifier(options.get("consent_keys", {}))
    served = library

    async def licence_query(call: InboundCall) -> InboundResult:
        try:
            return served.answer(call, verifier, ctx.clock(), identifier_field="body.certificateIdentifier")
        except Refusal as exc:  # the consent verifier names the field as anhui does; zlb's sits in the body
            if exc.where == CONSENT_FIELD:
                raise exc.at(f"body.{CONSENT_FIELD}") from None
            raise

    sim.extras["licence_query"] = licence_query
