"""The g60 dialect (g60.md): XML in GB18030 over mutual TLS, XMLDSig with X.509 certificates.

Declared to the core once, here (``gateway.dialects``).
"""

from __future__ import annotations

from adapters.base import MAPPINGS
from adapters.xmlwire import signature_in_body
from gateway.dialects import Dialect, imported_on_use

from . import link, roles
from .codec import G60Adapter
from .settings import G60Link

__all__ = ["DIALECT"]


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
    describe_evidence=signature_in_body,
    licence_trust="licence_keys",
    server_ssl_context=link.server_ssl_context,
    simulator_extras=imported_on_use("adapters.g60.simulator"),
    repeat_horizon=7 * 86400.0,  # g60.md §7: "A repeated MessageId within 7 days"
)
