"""The zlb dialect (zlb.md): IRS appKey tokens and SM2 request signatures (浙里办).

Its codec (``codec``), pure wire scheme (``scheme``), link schema (``settings``), client and endpoint roles
(``roles``) and simulator extras are declared to the core once, here; its field tables are ``mappings/zlb/``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import MAPPINGS
from gateway.dialects import Dialect

from . import link, roles
from .codec import ZlbAdapter
from .settings import ZlbLink

__all__ = ["DIALECT"]


def _simulator_extras(sim: Any, spec: Any, ctx: Any) -> None:
    """Imported on use: the wire roles never depend on the simulators (an import-linter contract)."""
    from .simulator import install_simulator_extras  # noqa: PLC0415

    install_simulator_extras(sim, spec, ctx)


DIALECT = Dialect(
    name="zlb",
    adapter=ZlbAdapter,
    mappings=MAPPINGS / "zlb",
    link_schema=ZlbLink,
    load_link=link.load_link,
    generate_link=link.generate_link,
    client=roles.Client,
    endpoint=roles.Endpoint,
    documented_rate=20.0,  # zlb.md §5: 20 requests/s per appKey
    evidence_headers=("x-sm2-sign", "x-sm2-cert-sn"),
    licence_trust="licence_issuers",
    simulator_extras=_simulator_extras,
)
