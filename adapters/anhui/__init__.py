"""The anhui dialect (anhui.md): TIF client authentication and detached JWS both ways; Hefei and Huainan.

Declared to the core once, here (``gateway.dialects``).
"""

from __future__ import annotations

from adapters.base import MAPPINGS
from gateway.dialects import Dialect, imported_on_use

from . import roles, scheme
from .codec import AnhuiAdapter
from .settings import AnhuiLink

__all__ = ["DIALECT"]


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
    describe_evidence=scheme.describe_evidence,
    licence_trust="licence_certs",
    simulator_extras=imported_on_use("adapters.anhui.simulator"),
    consent_issuer="https://akm.ahzwfw.gov.cn",  # anhui.md §6.6
    dev_consent_key=roles.dev_consent_key,
)
