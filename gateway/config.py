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

from gateway.config_schema import check_document
from gateway.delivery import BreakerSettings, DeliveryConfigError, RetryPolicy
from gateway.errors import ConfigError
from gateway.pipeline.routing import Route, load_routes
from gateway.pipeline.worker import WorkerSettings
from gateway.registry import Registry, load_registry
from gateway.retention import RetentionSettings, read_retention
from mappings.tables import load_tables

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "ConsoleSettings",
    "DeliverySettings",
    "ServerSettings",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "gateway.toml"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # a second listener with mutual TLS for the partner whose scheme needs it (g60.md §1): its platform id, and the
    # gateway's side of that link provides the server certificate and the CA its clients' certificates come from
    tls_port: int | None = None
    tls_platform: str | None = None
    # the edge's bounds on every listener (gateway/server/listener.py; docs/operations.md "Connection limits"): an
    # idle connection is closed after keepalive_timeout s, a request head must be complete within header_timeout s,
    # a call (body upload included) within request_timeout s, and no more than max_connections connections are open
    # at once, max_connections_per_client of them from one client address
    keepalive_timeout: float = 15.0
    header_timeout: float = 10.0
    request_timeout: float = 60.0
    max_connections: int = 1000
    max_connections_per_client: int = 100
    # seconds from SIGTERM to exit: in-flight sends get all but the last quarter (at most 5 s, for releasing their
    # claims, sealing the log, closing the store); a supervisor's stop timeout must be longer (docs/running.md)
    shutdown_grace: float = 30.0


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """Retry policy and breaker settings, with per-destination overrides (``[delivery.destinations.<id>]``)."""

    default: RetryPolicy
    per_destination: Mapping[str, RetryPolicy]
    breaker: BreakerSettings
    worker: WorkerSettings


@dataclass(frozen=True, slots=True)
class MessageLogSettings:
    """The tamper-evident message log: where, the at-rest data key, the seal key, sealing and retention."""

    url: str
    key_file: Path
    key_id: str
    cipher: str
    seal_key_file: Path
    seal_interval: float
    retention_days: float | None
    key_env: str | None = None  # the data key (hex) from this environment variable instead of key_file
    # [message_log.older_keys] key id -> (hex key file, cipher): rotated-out data keys, kept for reading only
    older_keys: Mapping[str, tuple[Path, str]] | None = None


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """``[console]``: the operators' browser console (gateway/console) on a listener of its own; off without a port.

    A login from one client address or for one account name is refused for ``lockout_seconds`` after
    ``login_attempts`` failures within that time; a session ends after ``session_minutes`` without a request.
    """

    host: str = "127.0.0.1"
    port: int | None = None
    session_minutes: float = 30.0
    login_attempts: int = 5
    lockout_seconds: float = 300.0


def _console(raw: Any, source: str) -> ConsoleSettings:
    if raw is None:
        return ConsoleSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "console", "must be a table", "write [console] with port = 8090")
    unknown = sorted(set(raw) - {"host", "port", "session_minutes", "login_attempts", "lockout_seconds"})
    if unknown:
        raise ConfigError(
            source,
            f"console.{unknown[0]}",
            "is not a console setting",
            "use host, port, session_minutes, login_attempts, lockout_seconds",
        )
    host, port = raw.get("host", "127.0.0.1"), raw.get("port")
    if not isinstance(host, str) or not host:
        raise ConfigError(source, "console.host", f"{host!r} is not a host name", 'write e.g. host = "127.0.0.1"')
    if port is not None and (type(port) is not int or not 0 <= port <= 65535):
        raise ConfigError(source, "console.port", f"{port!r} is not a TCP port", "use a whole number 0-65535")
    out: dict[str, Any] = {}
    for key, low, high in (("session_minutes", 1, 24 * 60), ("lockout_seconds", 1, 86400)):
        value = raw.get(key, getattr(ConsoleSettings(), key))
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigError(source, f"console.{key}", f"{value!r} is out of range", f"use {low} to {high}")
        out[key] = float(value)
    attempts = raw.get("login_attempts", 5)
    if type(attempts) is not int or not 1 <= attempts <= 100:
        raise ConfigError(source, "console.login_attempts", f"{attempts!r} is not 1-100", "write e.g. 5")
    return ConsoleSettings(host, port, login_attempts=attempts, **out)


@dataclass(frozen=True, slots=True)
class Config:
    source: str
    server: ServerSettings
    store_url: str
    registry: Registry
    raw: Mapping[str, Any]
    base_dir: Path = Path(".")
    dev_credentials: Path | None = None
    routes: tuple[Route, ...] = ()
    delivery: DeliverySettings | None = None
    admin_token_file: Path | None = None
    message_log: MessageLogSettings | None = None
    admin_token_env: str | None = None  # the admin token from this environment variable instead of a file
    retention: RetentionSettings = RetentionSettings()  # noqa: RUF009 (frozen) [retention]: how long rows are kept
    console: ConsoleSettings = ConsoleSettings()

    def delivery_settings(self) -> DeliverySettings:
        return self.delivery if self.delivery is not None else _delivery({}, self.source)


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
    tls_port = raw.get("tls_port")
    tls_platform = raw.get("tls_platform")
    if tls_port is not None and (type(tls_port) is not int or not 0 <= tls_port <= 65535):
        raise ConfigError(source, "server.tls_port", f"{tls_port!r} is not a TCP port", "use a whole number 0-65535")
    if (tls_port is None) != (tls_platform is None):
        raise ConfigError(
            source,
            "server.tls_platform",
            "tls_port and tls_platform go together",
            'write both, e.g. tls_port = 8443 and tls_platform = "g60"',
        )
    grace = raw.get("shutdown_grace", 30.0)
    if type(grace) not in (int, float) or not 1 <= grace <= 3600:
        raise ConfigError(
            source,
            "server.shutdown_grace",
            f"{grace!r} is not a number of seconds from 1 to 3600",
            "write e.g. shutdown_grace = 30, shorter than the supervisor's stop timeout",
        )
    return ServerSettings(host, port, tls_port, tls_platform, shutdown_grace=float(grace), **_edge_bounds(raw, source))


def _edge_bounds(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The listeners' timeouts (seconds > 0) and connection caps (whole numbers >= 1) of ``[server]``."""
    defaults = ServerSettings()
    out: dict[str, Any] = {}
    for key in ("keepalive_timeout", "header_timeout", "request_timeout"):
        value = raw.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ConfigError(
                source,
                f"server.{key}",
                f"{value!r} is not a number of seconds",
                f"use a number > 0, e.g. {key} = {getattr(defaults, key):g}",
            )
        out[key] = float(value)
    for key in ("max_connections", "max_connections_per_client"):
        value = raw.get(key, getattr(defaults, key))
        if type(value) is not int or value < 1:
            raise ConfigError(
                source,
                f"server.{key}",
                f"{value!r} is not a number of connections",
                f"use a whole number >= 1, e.g. {key} = {getattr(defaults, key)}",
            )
        out[key] = value
    if out["max_connections_per_client"] > out["max_connections"]:
        raise ConfigError(
            source,
            "server.max_connections_per_client",
            f"{out['max_connections_per_client']} is more than max_connections",
            "make it at most max_connections",
        )
    return out


def _delivery(raw: Any, source: str) -> DeliverySettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "delivery", "must be a table", "write [delivery] with retry settings")
    try:
        common = {k: v for k, v in raw.items() if k not in ("destinations", "breaker", "worker")}
        default = RetryPolicy.from_mapping(common, where=f"{source} [delivery]")
        per = {
            pid: RetryPolicy.from_mapping(table, where=f"{source} [delivery.destinations.{pid}]", defaults=default)
            for pid, table in raw.get("destinations", {}).items()
        }
        breaker = BreakerSettings.from_mapping(raw.get("breaker", {}), where=f"{source} [delivery.breaker]")
    except DeliveryConfigError as exc:
        raise ConfigError(source, "delivery", str(exc)) from None
    worker_raw = raw.get("worker", {})
    try:
        worker = WorkerSettings(**worker_raw)
    except TypeError:
        raise ConfigError(
            source,
            "delivery.worker",
            f"{worker_raw!r} has an unknown key",
            "use batch, lease_seconds, per_destination, poll_interval, linger",
        ) from None
    except ValueError as exc:
        raise ConfigError(source, "delivery.worker", str(exc), "use positive numbers") from None
    return DeliverySettings(default, per, breaker, worker)


def _message_log(raw: Any, base: Path, source: str) -> MessageLogSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "message_log", "must be a table", "write [message_log] with url and key files")
    url = str(raw.get("url", "sqlite:///var/msglog.db"))
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path, sep, query = url[len("sqlite:///") :].partition("?")
        url = "sqlite://" + str((base / path).resolve()) + sep + query
    cipher = str(raw.get("cipher", "SM4-GCM"))
    if cipher not in ("SM4-GCM", "AES-GCM"):
        raise ConfigError(source, "message_log.cipher", f"{cipher!r} is not supported", "use SM4-GCM or AES-GCM")
    key_file = _path(raw.get("key_file"), base, source, "message_log.key_file")
    seal_key_file = _path(raw.get("seal_key_file"), base, source, "message_log.seal_key_file")
    if key_file is None or seal_key_file is None:
        raise ConfigError(
            source,
            "message_log",
            "key_file and seal_key_file are required",
            "name a data key file (hex) and an Ed25519 PEM seal key file",
        )
    interval = raw.get("seal_interval", 60)
    retention = raw.get("retention_days")
    if not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError(source, "message_log.seal_interval", f"{interval!r} is not a number of seconds > 0")
    return MessageLogSettings(
        url,
        key_file,
        str(raw.get("key_id", "key-1")),
        cipher,
        seal_key_file,
        float(interval),
        float(retention) if retention is not None else None,
        _env_name(raw.get("key_env"), source, "message_log.key_env"),
        _older_keys(raw.get("older_keys"), base, source, cipher),
    )


def _older_keys(raw: Any, base: Path, source: str, cipher: str) -> Mapping[str, tuple[Path, str]] | None:
    """``key_id = "file"`` (the current cipher) or ``key_id = {key_file = "...", cipher = "AES-GCM"}``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(
            source,
            "message_log.older_keys",
            "must be a table of key ids",
            'write [message_log.older_keys] with e.g. key-1 = "var/keys/key-1.hex"',
        )
    keys: dict[str, tuple[Path, str]] = {}
    for key_id, value in raw.items():
        where = f"message_log.older_keys.{key_id}"
        table = value if isinstance(value, Mapping) else {"key_file": value}
        older_cipher = str(table.get("cipher", cipher))
        if older_cipher not in ("SM4-GCM", "AES-GCM"):
            raise ConfigError(source, where, f"{older_cipher!r} is not supported", "use SM4-GCM or AES-GCM")
        path = _path(table.get("key_file"), base, source, where)
        if path is None:
            raise ConfigError(source, where, "names no key file", 'write e.g. key-1 = "var/keys/key-1.hex"')
        keys[str(key_id)] = (path, older_cipher)
    return keys


def _env_name(value: Any, source: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.replace("_", "").isalnum():
        raise ConfigError(source, key, f"{value!r} is not an environment variable name", 'write e.g. "TONGBAN_KEY"')
    return value


def _path(value: Any, base: Path, source: str, key: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(source, key, f"{value!r} is not a path", 'write e.g. "var/dev"')
    path = Path(value)
    return path if path.is_absolute() else base / path


def parse_config(data: Mapping[str, Any], source: str, base_dir: Path | None = None) -> Config:
    """Typed configuration from an already parsed TOML document (relative paths against ``base_dir``)."""
    base = base_dir if base_dir is not None else Path.cwd()
    # the whole file against its schema first (gateway/config_schema.py): every problem at once, with the nearest
    # valid name for a misspelt key; `gateway check-config` and `gateway serve` both come through here
    check_document(data, source, base)
    store = data.get("store", {})
    url = store.get("url", "sqlite:///var/gateway.db") if isinstance(store, dict) else None
    if not isinstance(url, str) or not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            source,
            "store.url",
            f"{url!r} is not a store URL",
            'use "sqlite:///path/file.db" or "postgresql://user@host/db"',
        )
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # sqlite:///relative/file.db is relative to the configuration's base directory; sqlite:////abs is absolute
        path, sep, query = url[len("sqlite:///") :].partition("?")
        url = "sqlite://" + str((base / path).resolve()) + sep + query
    registry = load_registry(data, load_tables(), source)
    dev = data.get("dev", {})
    admin = data.get("admin", {})
    return Config(
        source=source,
        server=_server(data.get("server"), source),
        store_url=url,
        registry=registry,
        raw=data,
        base_dir=base,
        dev_credentials=_path(dev.get("credentials"), base, source, "dev.credentials"),
        routes=load_routes(data.get("routes"), registry, source),
        delivery=_delivery(data.get("delivery", {}), source),
        admin_token_file=_path(admin.get("token_file"), base, source, "admin.token_file"),
        admin_token_env=_env_name(admin.get("token_env"), source, "admin.token_env"),
        message_log=_message_log(data.get("message_log"), base, source),
        retention=_retention(data, registry, source),
        console=_console(data.get("console"), source),
    )


def _retention(data: Mapping[str, Any], registry: Registry, source: str) -> RetentionSettings:
    """``[retention]``; the message log's default is ``[message_log] retention_days``."""
    log = data.get("message_log")
    days = log.get("retention_days") if isinstance(log, Mapping) else None
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or days <= 0):
        raise ConfigError(source, "message_log.retention_days", f"{days!r} is not a number of days > 0")
    dialects = {pid: platform.dialect for pid, platform in registry.platforms.items()}
    return read_retention(data.get("retention"), dialects, source, None if days is None else float(days))


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
    return parse_config(data, str(file), Path.cwd())
