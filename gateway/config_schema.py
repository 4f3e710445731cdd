"""The configuration file's schema: every section, platform entry and link table, checked whole before it is used.

Why a schema on top of the section readers: a misspelt section or key (``[message_logs]``, ``[platform.songjiang]``,
``prot = 8080``) used to be silently ignored, and a bad ``base_url`` or key file surfaced only when the first
message was sent. Here every table is a pydantic model with ``extra="forbid"``: a key that is not declared is
refused with the nearest valid name, a value of the wrong type with its key path, and the whole document is
checked at once so that one run of ``gateway check-config`` lists every problem. ``load_config`` runs the same
check, so ``check-config`` passes exactly what ``serve`` starts with.

The section readers (``gateway.config``, ``gateway.registry``, ``gateway.retention``, the delivery policy) still
interpret values (durations, crosswalk columns, documented horizons); the schema checks structure and types, plus
the facts that need the whole file: ``tls_port != port``, ``tls_platform`` names a platform, every link table loads.

Editing rule: a new configuration key is declared here, in the model of its table, or the file that uses it is
refused at start.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.errors import ConfigError

__all__ = ["ConfigProblems", "Document", "FileName", "GatewaySection", "LinkTable", "Text", "check_document"]

Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0)]
Duration = str | float  # "10s", "1h", "3d" or seconds; interpreted by the section's reader
FileName = Annotated[str, Field(min_length=1)]
Text = Annotated[str, Field(min_length=1)]

_SECRET_WORDS = ("secret", "token", "password", "passwd")


class ConfigProblems(ConfigError):
    """Every problem of one configuration file; the first is the ``ConfigError`` itself (its source and key)."""

    def __init__(self, problems: list[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.source, first.key, first.problem, first.fix)
        self.problems = problems
        more = "".join(f"\n  {p}" for p in problems[1:])
        self.args = (f"{first}{more}",)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LinkTable(_Table):
    """Base of every dialect's ``[platforms.<id>.link]`` schema (each declared in its dialect's package, named by
    its ``Dialect.link_schema``): unknown keys refused with the nearest valid name, values checked by type."""


# --- sections ---------------------------------------------------------------------------------------------------
class Server(_Table):
    host: Text = "127.0.0.1"
    port: Port = 8080
    tls_port: Port | None = None
    tls_platform: Text | None = None
    keepalive_timeout: Seconds = 15.0
    header_timeout: Seconds = 10.0
    request_timeout: Seconds = 60.0
    max_connections: Annotated[int, Field(ge=1)] = 1000
    max_connections_per_client: Annotated[int, Field(ge=1)] = 100
    shutdown_grace: Annotated[float, Field(ge=1, le=3600)] = 30.0


class Store(_Table):
    url: Text = "sqlite:///var/gateway.db"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError('is not a store URL; use "sqlite:///path/file.db" or "postgresql://user@host/db"')
        return value


class DialectTable(_Table):
    default_site: Text | None = None


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        raise ValueError('has no valid port; write e.g. base_url = "https://host:8443"') from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError('is not an http(s) URL with a host; write e.g. base_url = "https://host:8443"')
    return value


class Platform(_Table):
    dialect: Text
    base_url: Text
    name: str = ""
    region: str = ""
    item_column: Text | None = None
    item_codes: dict[str, str] | None = None
    site_regions: list[str] = []
    regions: list[str] = []
    record_types: list[str] = []
    rate_limit: Annotated[float, Field(gt=0)] | None = None
    sender_code: Text | None = None
    receiver_code: Text | None = None
    party_code: Text | None = None
    link: dict[str, Any] | None = None  # checked by the dialect's link schema (Dialect.link_schema)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class Dev(_Table):
    credentials: FileName | None = None


class Admin(_Table):
    token_file: FileName | None = None
    token_env: Text | None = None


class RetryTable(_Table):
    """``gateway.delivery.RetryPolicy``'s fields (a test keeps the two the same); values read by the policy."""

    base_delay: Duration | None = None
    factor: float | None = None
    max_delay: Duration | None = None
    jitter: float | None = None
    max_age: Duration | None = None
    max_attempts: int | None = None
    short_attempts: int | None = None
    short_wait: Duration | None = None
    short_max_wait: Duration | None = None


class Breaker(_Table):
    """``gateway.delivery.BreakerSettings``'s fields (a test keeps the two the same)."""

    consecutive_failures: int | None = None
    failure_ratio: float | None = None
    window: int | None = None
    min_calls: int | None = None
    cool_down: Duration | None = None


class Worker(_Table):
    batch: Annotated[int, Field(ge=1)] = 64
    lease_seconds: Seconds = 120.0
    per_destination: Annotated[int, Field(ge=1)] = 8
    poll_interval: Seconds = 0.5
    linger: Annotated[float, Field(ge=0)] = 0.005


class Delivery(RetryTable):
    destinations: dict[str, RetryTable] = {}
    breaker: Breaker | None = None
    worker: Worker | None = None


class OlderKey(_Table):
    key_file: FileName
    cipher: str | None = None


class MessageLog(_Table):
    url: Text = "sqlite:///var/msglog.db"
    key_file: FileName
    seal_key_file: FileName
    key_id: Text = "key-1"
    key_env: Text | None = None
    cipher: typing.Literal["SM4-GCM", "AES-GCM"] = "SM4-GCM"
    seal_interval: Seconds = 60.0
    retention_days: Annotated[float, Field(gt=0)] | None = None
    older_keys: dict[str, FileName | OlderKey] | None = None


class Retention(_Table):
    interval: Duration | None = None
    nonces_after: Duration | None = None
    delivered_after: Duration | None = None
    case_records_after: Duration | None = None
    message_log_after: Duration | None = None
    idempotency_after: dict[str, Duration] = {}


class Logging(_Table):
    level: str = "INFO"
    format: typing.Literal["json", "plain"] = "json"


class Sync(_Table):
    links: list[str] = []


class Console(_Table):
    host: Text = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] | None = None
    session_minutes: Annotated[float, Field(gt=0)] = 30.0
    login_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    lockout_seconds: Annotated[float, Field(gt=0)] = 300.0


class Route(_Table):
    destinations: Annotated[list[Text], Field(min_length=1)]
    record_types: list[Text] = ["case"]
    regions: list[Text] = []


class GatewaySection(_Table):
    """``[gateway]``: dialect packages registered beyond the built-in ones (``gateway.dialects``), each an
    importable package whose ``__init__`` declares ``DIALECT`` (docs/running.md, "Adding a dialect")."""

    dialect_packages: list[Text] = []


class Document(_Table):
    """The whole file: every top-level table a part of the gateway reads."""

    gateway: GatewaySection | None = None
    server: Server | None = None
    store: Store | None = None
    dialects: dict[str, DialectTable] = {}
    platforms: dict[str, Platform]
    dev: Dev | None = None
    admin: Admin | None = None
    routes: list[Route] | None = None
    delivery: Delivery | None = None
    message_log: MessageLog | None = None
    retention: Retention | None = None
    logging: Logging | None = None
    sync: Sync | None = None
    console: Console | None = None


# --- errors -------------------------------------------------------------------------------------------------------
def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(loc: tuple[int | str, ...], value: Any) -> str:
    """The value as the error shows it: never a secret, never a whole table."""
    names = [str(p).lower() for p in loc if isinstance(p, str)]
    last = names[-1] if names else ""
    if any(w in last for w in _SECRET_WORDS) and not last.endswith(("_file", "_env")):
        return "(a value, not shown)"
    if isinstance(value, Mapping):
        return "a table"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation may hold (through ``X | None``, ``Annotated``, lists and dicts)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys valid in the table at ``loc`` (dict keys and list indexes skipped)."""
    current: Any = model
    i = 0
    while i < len(loc) and isinstance(current, type) and issubclass(current, BaseModel):
        field = current.model_fields.get(str(loc[i]))
        if field is None:
            return []
        annotation = field.annotation
        i += 1
        origin = typing.get_origin(annotation)
        for arg in typing.get_args(annotation) or ():
            if typing.get_origin(arg) in (dict, list):
                annotation, origin = arg, typing.get_origin(arg)
        if origin in (dict, list) and i < len(loc):
            annotation = typing.get_args(annotation)[-1]
            i += 1
        models = _unwrap(annotation)
        current = models[0] if models else None
    if i == len(loc) and isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _in_data(data: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``loc`` without the names pydantic adds for the member of a union it tried (``constrained-str``, ``OlderKey``):
    the key path as the file spells it. A last part naming a key of a table stays (a missing key is not in the data).
    """
    kept: list[int | str] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, Mapping) and part in current:  # noqa: SIM114 (mypy narrows the index per branch)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif i < len(loc) - 1 or not isinstance(current, Mapping):
            continue  # a union member's name, or (under a value that is no table) the member's own key
        kept.append(part)
    return tuple(kept)


def _problem(
    source: str, root: type[BaseModel], prefix: tuple[int | str, ...], error: Any, data: Any = None
) -> ConfigError:
    loc = (*prefix, *_in_data(data, tuple(error["loc"])))
    key = _key_path(loc) or "(file)"
    kind = error["type"]
    if kind == "extra_forbidden":
        where, name = loc[:-1], str(loc[-1])
        valid = _fields_at(root, error["loc"][:-1])
        near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        table = f"[{_key_path(where)}]" if where else "the top level"
        fix = f"did you mean {near[0]}?" if near else ""
        fix += (" " if fix else "") + f"valid keys of {table}: {', '.join(valid)}" if valid else ""
        return ConfigError(source, key, f"is not a key of {table}", fix.strip())
    if kind == "missing":
        return ConfigError(source, key, "is missing", "add it (config/gateway.toml and docs/running.md show each key)")
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(source, key, f"{_shown(loc, error.get('input'))}: {message}", "")


def _validate(
    model: type[BaseModel], data: Any, source: str, prefix: tuple[int | str, ...], problems: list[ConfigError]
) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # a key that is not declared first: a misspelt key is also a "missing" one, and its name says more
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems.extend(_problem(source, model, prefix, e, data) for e in errors)
        return None


# --- the whole document -------------------------------------------------------------------------------------------
def check_document(data: Mapping[str, Any], source: str, base: Path) -> None:
    """Check the parsed TOML document whole; raise ``ConfigProblems`` naming every problem found.

    ``base`` is the folder relative file names in link tables are read from (as ``gateway serve`` reads them).
    """
    from gateway import dialects  # noqa: PLC0415 (loading the dialects imports every dialect package)

    problems: list[ConfigError] = []
    doc = _validate(Document, data, source, (), problems)
    section = data.get("gateway")
    packages = section.get("dialect_packages") if isinstance(section, Mapping) else None
    if isinstance(packages, list) and all(isinstance(p, str) for p in packages):  # else refused by the schema
        try:
            dialects.register_packages(packages, source)
        except ConfigError as exc:
            problems.append(exc)
    known = dialects.dialect_names()
    platforms = data.get("platforms") if isinstance(data.get("platforms"), Mapping) else {}
    for pid, entry in (platforms or {}).items():
        name = entry.get("dialect") if isinstance(entry, Mapping) else None
        if name not in known:
            problems.append(
                ConfigError(
                    source, f"platforms.{pid}.dialect", f"{name!r} is not a dialect", f"use one of {', '.join(known)}"
                )
            )
            continue
        link = entry.get("link")
        if not isinstance(link, Mapping):
            if not isinstance(data.get("dev"), Mapping) or data["dev"].get("credentials") is None:
                problems.append(
                    ConfigError(
                        source,
                        f"platforms.{pid}.link",
                        "no credentials for this platform",
                        "add a [platforms.<id>.link] table or set [dev] credentials",
                    )
                )
            continue
        declared = dialects.dialect(str(name))
        before = len(problems)
        _validate(declared.link_schema, link, source, ("platforms", pid, "link"), problems)
        if len(problems) == before:
            try:
                declared.load_link(link, base)
            except ConfigError as exc:  # the dialect's loader names the key inside the link table
                problems.append(ConfigError(source, f"platforms.{pid}.link.{exc.key}", exc.problem, exc.fix))
    for name in data.get("dialects", {}) if isinstance(data.get("dialects"), Mapping) else ():
        if name not in known:
            near = difflib.get_close_matches(str(name), known, n=1)
            problems.append(
                ConfigError(
                    source,
                    f"dialects.{name}",
                    "is not a dialect",
                    f"did you mean {near[0]}?" if near else f"use {', '.join(known)}",
                )
            )
    server = data.get("server")
    if (
        isinstance(server, Mapping)
        and server.get("tls_port") not in (None, 0)
        and server.get("tls_port") == server.get("port", 8080)
    ):
        problems.append(
            ConfigError(
                source,
                "server.tls_port",
                f"{server['tls_port']!r} is the same port as port",
                "give the mutual-TLS listener its own port",
            )
        )
    if isinstance(doc, Document) and doc.server is not None and doc.server.tls_platform is not None:
        _check_tls_platform(doc, source, problems)
    if isinstance(doc, Document):
        _check_console_port(doc, source, problems)
        _check_destination_names(doc, source, problems)
    _check_readers(data, source, problems)
    if isinstance(doc, Document):
        _check_secrets(doc, source, base, problems)
    if problems:
        raise ConfigProblems(problems)


_WILDCARDS: Final = ("0.0.0.0", "::", "")  # noqa: S104 (compared with, never bound)


def _check_console_port(doc: Document, source: str, problems: list[ConfigError]) -> None:
    """The console listens on a port of its own: on the gateway's port or its mutual-TLS port ``serve`` would stop at
    start with "address already in use" (the gateway binds first)."""
    console, server = doc.console, doc.server or Server()
    if console is None or not console.port:
        return
    shared_host = console.host == server.host or console.host in _WILDCARDS or server.host in _WILDCARDS
    taken = {"port": server.port, "tls_port": server.tls_port}
    for name, port in taken.items():
        if shared_host and port == console.port:
            problems.append(
                ConfigError(
                    source,
                    "console.port",
                    f"{console.port!r} is the gateway's {name} on the same host",
                    "give the console a port of its own",
                )
            )


def _check_destination_names(doc: Document, source: str, problems: list[ConfigError]) -> None:
    """``[delivery.destinations.<id>]`` overrides a platform's retry policy: a misspelt id would be ignored for ever
    (the platform keeps the default policy), so it is refused with the nearest platform id."""
    if doc.delivery is None:
        return
    for name in doc.delivery.destinations:
        if name not in doc.platforms:
            near = difflib.get_close_matches(name, list(doc.platforms), n=1)
            problems.append(
                ConfigError(
                    source,
                    f"delivery.destinations.{name}",
                    "is not a configured platform",
                    f"did you mean {near[0]}?" if near else f"use one of {', '.join(sorted(doc.platforms))}",
                )
            )


def _check_secrets(doc: Document, source: str, base: Path, problems: list[ConfigError]) -> None:
    """The message log's key files exist and load, as ``serve`` reads them at start; without ``[dev] credentials``
    nothing is generated, so a missing file is an error now rather than at start."""
    from gateway.msglog.atrest import AtRestKey  # noqa: PLC0415
    from signing.errors import SigningError  # noqa: PLC0415
    from signing.keys import load_private_key_file  # noqa: PLC0415

    generated = doc.dev is not None and doc.dev.credentials is not None
    # token_env and key_env are the runtime's environment, read at start (serve refuses an unset one); check-config
    # often runs elsewhere (CI, a build), so it checks the file only
    log = doc.message_log
    if log is None:
        return

    def data_key(key: str, where: str, text: str | None, cipher: str) -> None:
        if text is None:
            return
        try:
            AtRestKey.of("check", bytes.fromhex(text.strip()), cipher)
        except (ValueError, SigningError):
            problems.append(
                ConfigError(source, key, f"{where} is not a {cipher} key in hex", "write 32 hex digits (16 bytes)")
            )

    def read(key: str, rel: str, *, dev_generates: bool = True) -> str | None:
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        if path.is_file():
            return path.read_text(encoding="ascii", errors="replace")
        if not (generated and dev_generates):
            problems.append(
                ConfigError(
                    source,
                    key,
                    f"the key file {rel!r} does not exist",
                    "create it (production keys come from the key custodian)",
                )
            )
        return None

    if log.key_env is None:
        data_key("message_log.key_file", repr(log.key_file), read("message_log.key_file", log.key_file), log.cipher)
    for key_id, older in (log.older_keys or {}).items():
        rel, cipher = (older, log.cipher) if isinstance(older, str) else (older.key_file, older.cipher or log.cipher)
        key = f"message_log.older_keys.{key_id}"
        # [dev] credentials generate the current keys, never rotated-out ones: those must exist either way
        data_key(key, repr(rel), read(key, rel, dev_generates=False), cipher)
    if read("message_log.seal_key_file", log.seal_key_file) is not None:
        try:
            load_private_key_file(base / log.seal_key_file)
        except SigningError:
            problems.append(
                ConfigError(
                    source,
                    "message_log.seal_key_file",
                    f"{log.seal_key_file!r} is no private key",
                    "name an Ed25519 PEM private key",
                )
            )


def _check_readers(data: Mapping[str, Any], source: str, problems: list[ConfigError]) -> None:
    """Sections another part reads from ``Config.raw`` at start: run their readers now, so that ``check-config``
    refuses what ``serve`` would."""
    from gateway.observability.logging import logging_settings  # noqa: PLC0415
    from gateway.sync.status import sync_links  # noqa: PLC0415

    platforms = data.get("platforms")
    ids = list(platforms) if isinstance(platforms, Mapping) else []
    for read in (lambda: logging_settings(data, source), lambda: sync_links(data, source, ids)):
        try:
            read()
        except ConfigError as exc:
            if not any(p.key == exc.key for p in problems):
                problems.append(exc)


def _check_tls_platform(doc: Document, source: str, problems: list[ConfigError]) -> None:
    from gateway.dialects import dialect, dialect_names  # noqa: PLC0415

    server = doc.server
    if server is None or server.tls_platform is None:
        return
    platform = doc.platforms.get(server.tls_platform)
    if platform is None:
        near = difflib.get_close_matches(server.tls_platform, list(doc.platforms), n=1)
        problems.append(
            ConfigError(
                source,
                "server.tls_platform",
                f"{server.tls_platform!r} is not a platform",
                f"did you mean {near[0]}?" if near else f"use one of {', '.join(doc.platforms)}",
            )
        )
    elif platform.dialect in dialect_names() and not dialect(platform.dialect).needs_mutual_tls:
        problems.append(
            ConfigError(
                source,
                "server.tls_platform",
                f"{server.tls_platform!r} does not use mutual TLS",
                "name the platform whose scheme needs client certificates (g60.md §1)",
            )
        )
    if server.tls_port is None:
        problems.append(
            ConfigError(
                source, "server.tls_port", "tls_platform is set without tls_port", "write both, e.g. tls_port = 8443"
            )
        )
