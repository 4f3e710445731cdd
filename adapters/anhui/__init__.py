"""The anhui dialect (anhui.md): TIF client authentication and detached JWS both ways; Hefei and Huainan.

Its codec (``codec``), pure wire scheme (``scheme``), link schema (``settings``), client and endpoint roles
(``roles``) and simulator extras are declared to the core once, here; its field tables are ``mappings/anhui/``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import MAPPINGS
from gateway.dialects import Dialect

from . import roles
from .codec import AnhuiAdapter
from .settings import AnhuiLink

__all__ = ["DIALECT"]


def _simulator_extras(sim: Any, spec: Any, ctx: Any) -> None:
    """Imported on use: the wire roles never depend on the simulators (an import-linter contract)."""
    from .simulator import install_simulator_extras  # noqa: PLC0415

    install_simulator_extras(sim, spec, ctx)


DIALECT = Dialect(
    name="anhui",
    adapter=AnhuiAdapter,
    mappings=MAPPINGS / "anhui",
    link_schema=AnhuiLink,
    load_link=roles.load_link,
    generate_link=roles.generate_link,
    client=roles.Client,
    endpoint=roles.Endpoint,
    documented_rate=50.0,  # anhui.md §5: 50 requests/s per paas id
    evidence_headers=("x-ah-jws", "x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature"),
    licence_trust="licence_certs",
    simulator_extras=_simulator_extras,
    consent_issuer="https://akm.ahzwfw.gov.cn",  # anhui.md §6.6
    dev_consent_key=roles.dev_consent_key,
)
