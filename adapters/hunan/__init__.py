"""The hunan dialect (hunan.md): OAuth client assertions and HTTP Message Signatures (RFC 9421).

Declared to the core once, here (``gateway.dialects``).
"""

from __future__ import annotations

from adapters.base import MAPPINGS
from gateway.dialects import Dialect

from . import roles, scheme
from .codec import HunanAdapter
from .settings import HunanLink

__all__ = ["DIALECT"]


DIALECT = Dialect(
    name="hunan",
    adapter=HunanAdapter,
    mappings=MAPPINGS / "hunan",
    link_schema=HunanLink,
    load_link=roles.load_link,
    generate_link=roles.generate_link,
    client=roles.Client,
    endpoint=roles.Endpoint,
    documented_rate=30.0,  # hunan.md §5: 30 requests/s per client
    evidence_headers=("signature", "signature-input", "content-digest"),
    describe_evidence=scheme.describe_evidence,
)
