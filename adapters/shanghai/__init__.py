"""The shanghai dialect (shanghai.md): SOAP 1.1 with an HMAC over the body (一网通办).

Declared to the core once, here (``gateway.dialects``).
"""

from __future__ import annotations

from adapters.base import MAPPINGS
from adapters.xmlwire import signature_in_body
from gateway.dialects import Dialect, imported_on_use

from . import roles
from .codec import ShanghaiAdapter
from .settings import ShanghaiLink

__all__ = ["DIALECT"]


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
    describe_evidence=signature_in_body,
    licence_trust="licence_issuer_keys",
    simulator_extras=imported_on_use("adapters.shanghai.simulator"),
)
