"""The [platforms.<id>.link] table of this dialect: the keys its ``load_link`` reads (paths relative to the file).

Checked whole by ``gateway check-config`` and at start (``Dialect.link_schema``) before ``load_link`` runs.
"""

from __future__ import annotations

from gateway.config_schema import FileName, LinkTable, Text

__all__ = ["HunanLink"]


class HunanLink(LinkTable):
    client_id: Text
    peer_client_id: Text
    assertion_key: FileName
    assertion_key_kid: Text
    signing_key: FileName
    signing_key_kid: Text
    peer_assertion_keys: dict[str, FileName]
    peer_signing_keys: dict[str, FileName]
    audience: str | None = None
    peer_audience: str | None = None
