"""The [platforms.<id>.link] table of this dialect: the keys its ``load_link`` reads (paths relative to the file).

Checked whole by ``gateway check-config`` and at start (``Dialect.link_schema``) before ``load_link`` runs.
"""

from __future__ import annotations

from pydantic import Field

from gateway.config_schema import FileName, LinkTable, Text

__all__ = ["AnhuiLink"]


class AnhuiLink(LinkTable):
    paas_id: Text
    paas_token_file: FileName
    jws_key_file: FileName
    jws_kid: Text
    peer_paas: dict[str, FileName]
    peer_jws_keys: dict[str, FileName]
    licence_certs: dict[str, FileName] = Field(default_factory=dict)
    consent_keys: dict[str, FileName] = Field(default_factory=dict)
    licence_key_file: FileName | None = None
    licence_cert_sn: Text | None = None
