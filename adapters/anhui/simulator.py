"""The anhui simulators' extras beyond submissions (licence queries, catalogue pages, item batches).

Kept apart from the wire scheme so the scheme never depends on the simulators.
"""

from __future__ import annotations

from typing import Any

from adapters.anhui import scheme as w
from adapters.anhui.roles import _SOURCE, Link
from gateway.consent import ConsentVerifier
from gateway.errors import ConfigError
from gateway.simulate.catalogue import Catalogue
from gateway.simulate.licences import LicenceLibrary
from gateway.wire.base import CataloguePage, InboundCall, LicenceAnswer

__all__ = ["install_simulator_extras", "simulator_library"]


def simulator_library(spec: Any, link: Link) -> LicenceLibrary:
    """The licence library a simulator of ``spec.platform`` serves: ``spec.options["licence_library"]`` when given,
    else one built from the link's SM2 key and the ``licence_seed``/``licence_count`` options (deterministic, so a
    test can build the same library to learn its identifiers)."""
    given = spec.options.get("licence_library")
    if isinstance(given, LicenceLibrary):
        return given
    if link.licence_key is None:
        raise ConfigError(_SOURCE, "licence_key_file", "an issuing platform needs its SM2 licence key", "set it")
    options = spec.options
    return LicenceLibrary(
        link.licence_key,
        link.licence_cert_sn,
        spec.platform.region,
        seed=int(options.get("licence_seed", 0)),
        size=int(options.get("licence_count", 200)),
    )


def install_simulator_extras(sim: Any, spec: Any, ctx: Any) -> None:
    """Licence queries (library + consent, single-use jti) and catalogue pages for the hefei/huainan simulator.

    Options: ``catalogue`` (a ``Catalogue`` the caller keeps, e.g. to ``mutate`` it) or ``catalogue_seed`` and
    ``catalogue_size`` (default 142,000); ``licence_library`` or ``licence_seed``/``licence_count``.
    """
    link: Link = ctx.link
    if link.licence_key is not None:
        library = simulator_library(spec, link)
        consent = ConsentVerifier(link.consent_keys)

        async def licence_query(call: InboundCall) -> LicenceAnswer:
            answer: LicenceAnswer = library.answer(call, consent, ctx.clock())
            return answer

        sim.extras["licence_query"] = licence_query
    catalogue = spec.options.get("catalogue")
    if not isinstance(catalogue, Catalogue):
        catalogue = Catalogue(
            seed=int(spec.options.get("catalogue_seed", 0)),
            size=int(spec.options.get("catalogue_size", 142_000)),
        )

    async def catalogue_page(call: InboundCall) -> CataloguePage:
        page_no, page_size, since = w.read_catalogue_query(call.query)
        return catalogue.page(page_no, page_size, since)

    sim.extras["catalogue"] = catalogue_page
