"""The shanghai dialect (shanghai.md): SOAP 1.1 with an HMAC over the body (一网通办).

Its codec (``codec``), pure wire scheme (``scheme``), link schema (``settings``), client and endpoint roles
(``roles``) and simulator extras are declared to the core once, here; its field tables are ``mappings/shanghai/``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import MAPPINGS
from gateway.dialects import Dialect

from . import roles
from .codec import ShanghaiAdapter
from .settings import ShanghaiLink

__all__ = ["DIALECT"]


def _simulator_extras(sim: Any, spec: Any, ctx: Any) -> None:
    """Imported on use: the wire roles never depend on the simulators (an import-linter contract)."""
    from .simulator import install_simulator_extras  # noqa: PLC0415

    install_simulator_extras(sim, spec, ctx)


DIALECT = Dialect(
    name="shanghai",
    adapter=ShanghaiAdapter,
    mappings=MAPPINGS / "shanghai",
    link_schema=ShanghaiLink,
    load_link=roles.load_link,
    generate_link=roles.generate_link,
    client=roles.Client,
    endpoint=roles.Endpoint,
    documented_rate=20.0,  # shanghai.md §4: 20 requests/s per appId
    evidence_headers=("soapaction",),
    licence_trust="licence_issuer_keys",
    simulator_extras=_simulator_extras,
)
