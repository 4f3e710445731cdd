"""The [platforms.<id>.link] table of this dialect: the keys its ``load_link`` reads (paths relative to the file).

Checked whole by ``gateway check-config`` and at start (``Dialect.link_schema``) before ``load_link`` runs.
"""

from __future__ import annotations

from pydantic import Field

from gateway.config_schema import FileName, LinkTable, Text

__all__ = ["ZlbLink"]


class ZlbLink(LinkTable):
    app_key: Text
    app_secret_file: FileName
    sm2_key_file: FileName
    sm2_cert_sn: Text
    peer_certs: dict[str, FileName]
    licence_issuers: dict[str, FileName] = Field(default_factory=dict)
    licence_key_file: FileName | None = None
    licence_cert_sn: Text | None = None
    local_id: str | None = None
    peer_id: str | None = None
