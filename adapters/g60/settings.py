"""The [platforms.<id>.link] table of this dialect: the keys its ``load_link`` reads (paths relative to the file).

Checked whole by ``gateway check-config`` and at start (``Dialect.link_schema``) before ``load_link`` runs.
"""

from __future__ import annotations

from pydantic import Field

from gateway.config_schema import FileName, LinkTable, Text

__all__ = ["G60Link"]


class G60Link(LinkTable):
    code: Text
    peer_code: Text
    peer_codes: list[Text] | None = None
    ca: FileName
    sign_cert: FileName
    sign_key: FileName
    tls_cert: FileName | None = None
    tls_key: FileName | None = None
    server_ca: FileName | None = None
    server_cert: FileName | None = None
    server_key: FileName | None = None
    licence_keys: dict[str, FileName] = Field(default_factory=dict)
    licence_sign_key: FileName | None = None
    licence_cert_sn: Text | None = None
