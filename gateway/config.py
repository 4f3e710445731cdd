"""Configuration: one TOML file read once into typed, frozen objects.

Errors name the file, the key, the bad value and the fix. Relative paths in the file are relative to the current
directory (the embedded default keeps its SQLite file under ``./var/``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.registry import Registry, load_registry
from mappings.tables import load_tables

__all__ = ["DEFAULT_CONFIG", "Config", "ServerSettings", "load_config", "parse_config"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "gateway.toml"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class Config:
    source: str
    server: ServerSettings
    store_url: str
    registry: Registry
    raw: Mapping[str, Any]


def _server(raw: Any, source: str) -> ServerSettings:
    if raw is None:
        return ServerSettings()
    if not isinstance(raw, dict):
        raise ConfigError(source, "server", "must be a table", "write [server] with host and port")
    host = raw.get("host", "127.0.0.1")
    port = raw.get("port", 8080)
    if not isinstance(host, str) or not host:
        raise ConfigError(source, "server.host", f"{host!r} is not a host name", 'write e.g. host = "127.0.0.1"')
    if type(port) is not int or not 0 <= port <= 65535:
        raise ConfigError(source, "server.port", f"{port!r} is not a TCP port", "use a whole number 0-65535")
    return ServerSettings(host, port)


def parse_config(data: Mapping[str, Any], source: str) -> Config:
    """Typed configuration from an already parsed TOML document."""
    store = data.get("store", {})
    url = store.get("url", "sqlite:///var/gateway.db") if isinstance(store, dict) else None
    if not isinstance(url, str) or not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(source, "store.url", f"{url!r} is not a store URL",
                          'use "sqlite:///path/file.db" or "postgresql://user@host/db"')
    return Config(
        source=source,
        server=_server(data.get("server"), source),
        store_url=url,
        registry=load_registry(data, load_tables(), source),
        raw=data,
    )


def load_config(path: Path | str | None = None) -> Config:
    """Read ``path`` (default: config/gateway.toml) and check it."""
    file = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(file), "(file)", "does not exist", "pass an existing file with --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "(syntax)", str(exc), "fix the TOML syntax") from None
    return parse_config(data, str(file))
