"""Fixtures for the signing tests: one development PKI per session (RSA generation is the slow part)."""

from __future__ import annotations

import datetime as dt

import pytest
from signing_testkit import NOW, Pki, TlsFiles

from signing.devpki import (
    issue_intermediate,
    issue_tls_client,
    issue_tls_server,
    issue_xml_signing,
    make_ca,
)


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = make_ca(now=NOW - dt.timedelta(days=30))
    other = make_ca("Somebody Else CA", now=NOW - dt.timedelta(days=30))
    inter = issue_intermediate(ca, "Tongban Dev Issuing CA", now=NOW - dt.timedelta(days=30))
    signer = issue_xml_signing(ca, "310117", now=NOW - dt.timedelta(days=1))
    return Pki(
        ca=ca,
        other_ca=other,
        intermediate=inter,
        signer=signer,
        signer_via_intermediate=issue_xml_signing(inter, "330400", now=NOW - dt.timedelta(days=1)),
        foreign_signer=issue_xml_signing(other, "310117", key=signer.key, now=NOW - dt.timedelta(days=1)),
        expired_signer=issue_xml_signing(
            ca,
            "310117",
            key=signer.key,
            not_before=NOW - dt.timedelta(days=30),
            not_after=NOW - dt.timedelta(days=1),
        ),
        no_ds_signer=issue_xml_signing(
            ca, "310117", key=signer.key, now=NOW - dt.timedelta(days=1), digital_signature=False
        ),
    )


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    server = issue_tls_server(pki.ca)
    client = issue_tls_client(pki.ca, "310117")
    foreign = issue_tls_client(pki.other_ca, "310117")
    files = {
        "ca": pki.ca.cert_pem(),
        "server_cert": server.cert_pem(),
        "server_key": server.key_pem(),
        "client_cert": client.cert_pem(),
        "client_key": client.key_pem(),
        "foreign_client_cert": foreign.cert_pem(),
        "foreign_client_key": foreign.key_pem(),
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = path
    return TlsFiles(**paths)
