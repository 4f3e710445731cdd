"""Trust stores: chains, validity at an injected time, usage, expiry reporting, subject serialNumber."""

from __future__ import annotations

import datetime as dt

import pytest
from signing_testkit import NOW, Pki

from signing.devpki import generate_dev_pki, issue_tls_client, issue_tls_server
from signing.errors import CertificateInvalid
from signing.keys import load_private_key_file, load_public_key_file
from signing.trust import TrustStore, Usage, days_left, load_certificates, subject_serial_number


def test_leaf_and_intermediate_chains(pki: Pki) -> None:
    store = TrustStore("g60", (pki.ca.cert,))
    assert len(store.verify(pki.signer.cert, now=NOW)) == 2
    chain = store.verify(pki.signer_via_intermediate.cert, [pki.intermediate.cert], now=NOW)
    assert [c.subject for c in chain] == [
        pki.signer_via_intermediate.cert.subject,
        pki.intermediate.cert.subject,
        pki.ca.cert.subject,
    ]
    with pytest.raises(CertificateInvalid):  # the intermediate is not presented and not held
        store.verify(pki.signer_via_intermediate.cert, now=NOW)
    held = TrustStore("g60", (pki.ca.cert,), (pki.intermediate.cert,))
    assert len(held.verify(pki.signer_via_intermediate.cert, now=NOW.timestamp())) == 3


def test_refusals(pki: Pki) -> None:
    store = TrustStore("g60", (pki.ca.cert,))
    cases = [
        (pki.foreign_signer.cert, NOW, "untrusted_chain"),
        (pki.expired_signer.cert, NOW, "expired"),
        (pki.signer.cert, NOW - dt.timedelta(days=10), "not_yet_valid"),
        (pki.no_ds_signer.cert, NOW, "wrong_key_usage"),
        (pki.intermediate.cert, NOW, "wrong_key_usage"),  # a CA presented as a leaf
    ]
    for cert, at, reason in cases:
        with pytest.raises(CertificateInvalid) as err:
            store.verify(cert, now=at)
        assert err.value.reason == reason


def test_tls_usage_checked(pki: Pki) -> None:
    store = TrustStore("g60", (pki.ca.cert,))
    client = issue_tls_client(pki.ca, "310117", now=NOW)
    server = issue_tls_server(pki.ca, now=NOW)
    assert store.verify(client.cert, now=NOW, usage=Usage.TLS_CLIENT)
    with pytest.raises(CertificateInvalid) as err:
        store.verify(server.cert, now=NOW, usage=Usage.TLS_CLIENT)
    assert err.value.reason == "wrong_key_usage"


def test_days_left_and_serial_number(pki: Pki) -> None:
    store = TrustStore("g60", (pki.ca.cert,), (pki.intermediate.cert,))
    report = store.days_left(NOW)
    assert len(report) == 2
    assert all(3000 < d < 3651 or 1000 < d < 1826 for d in report.values())
    assert days_left(pki.expired_signer.cert, NOW) == pytest.approx(-1.0, abs=0.01)
    assert subject_serial_number(pki.signer.cert) == "310117"
    assert subject_serial_number(pki.ca.cert) is None


def test_bundles_and_files(tmp_path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    bundle = pki.ca.cert_pem() + pki.other_ca.cert_pem()
    assert len(load_certificates(bundle)) == 2
    (tmp_path / "ca.pem").write_bytes(bundle)
    (tmp_path / "int.pem").write_bytes(pki.intermediate.cert_pem())
    store = TrustStore.from_files("g60", tmp_path / "ca.pem", tmp_path / "int.pem")
    assert len(store.verify(pki.signer_via_intermediate.cert, now=NOW)) == 3
    for bad in (b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        with pytest.raises(CertificateInvalid):
            TrustStore.from_pem("x", bad)
    with pytest.raises(CertificateInvalid):
        TrustStore.from_files("x", tmp_path / "missing.pem")
    with pytest.raises(CertificateInvalid):
        TrustStore("x", ())


def test_generate_dev_pki_writes_a_usable_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = generate_dev_pki(tmp_path / "pki", codes=("310117", "330400"), now=NOW)
    names = sorted(p.name for p in (tmp_path / "pki").iterdir())
    assert "client-330400.pem" in names
    assert "xmlsig-310117.key" in names
    assert {"ca.pem", "server.pem", "ed25519.key", "sm2.pub", "p256.pub"} <= set(names)
    assert oct((tmp_path / "pki" / "xmlsig-310117.key").stat().st_mode & 0o777) == "0o600"
    store = TrustStore.from_files("dev", tmp_path / "pki" / "ca.pem")
    for code in ("310117", "330400"):
        cert = load_certificates((tmp_path / "pki" / f"client-{code}.pem").read_bytes())[0]
        store.verify(cert, now=NOW, usage=Usage.TLS_CLIENT)
        assert subject_serial_number(cert) == code
        store.verify(out.xml_signers[code].cert, now=NOW)
    load_private_key_file(tmp_path / "pki" / "sm2.key")
    load_public_key_file(tmp_path / "pki" / "ed25519.pub")


def test_a_verified_chain_is_remembered_only_within_its_validity_window(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TrustStore("g60", (pki.ca.cert,))
    first = store.verify(pki.signer.cert, now=NOW)

    def no_path_building() -> None:
        raise AssertionError("the chain was built again")

    with monkeypatch.context() as patched:  # a repeat inside the window is answered from memory
        patched.setattr("signing.trust.xv.PolicyBuilder", no_path_building)
        assert store.verify(pki.signer.cert, now=NOW + dt.timedelta(hours=1)) == first
    for at, reason in [
        (pki.signer.cert.not_valid_after_utc + dt.timedelta(seconds=1), "expired"),
        (pki.signer.cert.not_valid_before_utc - dt.timedelta(seconds=1), "not_yet_valid"),
    ]:
        with pytest.raises(CertificateInvalid) as err:
            store.verify(pki.signer.cert, now=at)
        assert err.value.reason == reason


def test_a_remembered_chain_answers_only_for_its_own_usage_and_intermediates(pki: Pki) -> None:
    store = TrustStore("g60", (pki.ca.cert,))
    server = issue_tls_server(pki.ca, now=NOW)
    assert store.verify(server.cert, now=NOW, usage=Usage.TLS_SERVER)
    with pytest.raises(CertificateInvalid) as err:
        store.verify(server.cert, now=NOW, usage=Usage.TLS_CLIENT)
    assert err.value.reason == "wrong_key_usage"
    assert len(store.verify(pki.signer_via_intermediate.cert, [pki.intermediate.cert], now=NOW)) == 3
    with pytest.raises(CertificateInvalid) as err:  # the same leaf without its intermediate does not chain
        store.verify(pki.signer_via_intermediate.cert, now=NOW)
    assert err.value.reason == "untrusted_chain"
