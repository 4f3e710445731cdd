"""The g60 dialect (g60.md): XML in GB18030 over mutual TLS, XMLDSig with X.509 certificates.

Its codec (``codec``), pure wire scheme (``scheme``), link schema (``settings``), client and endpoint roles
(``roles``) and simulator extras are declared to the core once, here; its field tables are ``mappings/g60/``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import MAPPINGS
from gateway.dialects import Dialect

from . import link, roles
from .codec import G60Adapter
from .settings import G60Link

__all__ = ["DIALECT"]


def _simulator_extras(sim: Any, spec: Any, ctx: Any) -> None:
    """Imported on use: the wire roles never depend on the simulators (an import-linter contract)."""
    from .simulator import install_simulator_extras  # noqa: PLC0415

    install_simulator_extras(sim, spec, ctx)


DIALECT = Dialect(
    name="g60",
    adapter=G60Adapter,
    mappings=MAPPINGS / "g60",
    link_schema=G60Link,
    load_link=link.load_link,
    generate_link=link.generate_link,
    client=roles.Client,
    endpoint=roles.Endpoint,
    documented_rate=50.0,  # g60.md documents no rate: the anhui figure, as before
    evidence_headers=(),
    licence_trust="licence_keys",
    server_ssl_context=link.server_ssl_context,
    simulator_extras=_simulator_extras,
)
