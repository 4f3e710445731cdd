"""Shared data shapes and the fixed clock for the signing tests (imported by conftest and test modules)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from signing.devpki import Issued

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    ca: Issued
    other_ca: Issued
    intermediate: Issued
    signer: Issued  # RSA 2048, serialNumber 310117, issued by ca
    signer_via_intermediate: Issued  # RSA 2048, serialNumber 330400, issued by intermediate
    foreign_signer: Issued  # RSA 2048, serialNumber 310117, issued by other_ca
    expired_signer: Issued  # RSA 2048, expired a day before NOW
    no_ds_signer: Issued  # RSA 2048, keyUsage without digitalSignature


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    foreign_client_cert: Path
    foreign_client_key: Path
