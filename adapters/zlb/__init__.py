"""The zlb dialect (zlb.md): IRS appKey tokens and SM2 request signatures (浙里办).

Declared to the core once, here (``gateway.dialects``).
"""

from __future__ import annotations

from adapters.base import MAPPINGS
from gateway.dialects import Dialect, imported_on_use

from . import link, roles, scheme
from .codec import ZlbAdapter
from .settings import ZlbLink

__all__ = ["DIALECT"]


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
    describe_evidence=scheme.describe_evidence,
    licence_trust="licence_issuers",
    simulator_extras=imported_on_use("adapters.zlb.simulator"),
)
