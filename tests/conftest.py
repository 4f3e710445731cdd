"""Shared test fixtures: where the platforms' published documents and samples live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = (REPO.parent / "shared" / "platforms").resolve()


@pytest.fixture(scope="session")
def platforms_dir() -> Path:
    """The interface documents as the platforms gave them (``../shared/platforms``)."""
    if not PLATFORMS.is_dir():
        pytest.skip(f"the platforms' published documents are not beside the checkout ({PLATFORMS})")
    return PLATFORMS


@pytest.fixture(scope="session")
def samples_dir(platforms_dir: Path) -> Path:
    return platforms_dir / "samples"


@pytest.fixture(scope="session")
def config():  # type: ignore[no-untyped-def]
    """The default configuration (config/gateway.toml), read once."""
    from gateway.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def registry(config):  # type: ignore[no-untyped-def]
    return config.registry


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test PostgreSQL's DSN; the test skips, saying why, only when no server answers."""
    from pg_support import SKIP_REASON, find_pg_dsn

    dsn = find_pg_dsn()
    if dsn is None:
        pytest.skip(SKIP_REASON)
    return dsn
