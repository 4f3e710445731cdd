"""The delivery package stays pure: no HTTP client, no store, no server (STYLE lessons 2 and 6)."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway.delivery

FORBIDDEN = ("aiohttp", "asyncpg", "sqlite3", "gateway.transport", "gateway.store", "gateway.server")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_delivery_imports_no_io_layers() -> None:
    package = Path(gateway.delivery.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 6
    for source in sources:
        for name in imported_modules(source):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), (
                source.name,
                name,
            )


def test_public_names_are_exported() -> None:
    for name in gateway.delivery.__all__:
        assert hasattr(gateway.delivery, name), name
