"""What a dialect declares to the core, and the one place dialects are found by name.

A dialect is a plugin, as a Kong plugin is (STYLE.md lesson 14): one package (``adapters/<name>/`` for the five
built in, any importable package for one added out of tree) whose ``__init__`` declares ``DIALECT = Dialect(...)``.
The core reads that record and nothing else: it never imports ``adapters.<name>`` (an import-linter contract says
so), never keeps a table keyed by dialect name, and never asks a dialect or a link what it can do with
``getattr``/``hasattr``. Forgetting a capability is then a missing constructor argument, refused by mypy and at
import, instead of a silent default (a 50/s rate, evidence not logged, licence queries refused).

Registration is one line per dialect: the built-in packages are listed in ``adapters.registry.PACKAGES``; an
out-of-tree package is named in the configuration (``[gateway] dialect_packages = ["toy"]``) and loaded by
``gateway.config_schema.check_document`` before any platform entry is read, so ``check-config`` and ``serve``
know the same dialects (docs/running.md, "Adding a dialect").

A link (one side's credentials, each dialect's own frozen dataclass) shows the core what it holds through the
``DialectLink`` protocol: one method, ``key_material()``, returning a ``LinkKeys`` value (keys to publish, X.509
signers and trust anchors whose expiry is watched, SM2 keys by certificate serial, consent issuers' keys).
"""

from __future__ import annotations

import importlib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from cryptography import x509
    from pydantic import BaseModel

    from adapters.base import DialectAdapter
    from adapters.wire import Transport
    from gateway.registry import Platform
    from gateway.wire.base import InboundHandler, PlatformClient, PlatformEndpoint, WireContext
    from signing.keys import SigningKey, VerificationKey
    from signing.replay import ReplayGuard

__all__ = [
    "Dialect",
    "DialectLink",
    "EvidenceDescriber",
    "LinkKeys",
    "all_dialects",
    "dialect",
    "dialect_names",
    "evidence_headers",
    "imported_on_use",
    "register_packages",
]


@dataclass(frozen=True, slots=True)
class LinkKeys:
    """What one side of a link holds that the core shows or watches (JWKS, certificate expiry, consent checks).

    ``jose``: signing keys published in the JWKS ``keys`` (ES256, EdDSA, ...); ``signer_chains``: certificate
    signers, each its chain leaf first (the leaf's key is published with ``x5c``, its expiry watched);
    ``trust_anchors``: CA certificates this side trusts (expiry watched); ``sm2``: (certificate serial, SM2
    private key) pairs published beside the JWKS in the platforms' registered form; ``consent``: consent issuers'
    keys by kid (anhui.md §6.6);
    ``licence_issuer``: the SM2 key an issuing platform's side signs licences with (simulators and the demo).
    """

    jose: tuple[SigningKey, ...] = ()
    signer_chains: tuple[tuple[x509.Certificate, ...], ...] = ()
    trust_anchors: tuple[x509.Certificate, ...] = ()
    sm2: tuple[tuple[str, Any], ...] = ()
    consent: Mapping[str, VerificationKey] = field(default_factory=dict)
    licence_issuer: tuple[str, Any] | None = None  # (certificate serial, SM2 key) an issuing side signs licences with


class DialectLink(Protocol):
    """One side's credentials on a link, as the core sees them (each dialect's ``Link`` dataclass)."""

    def key_material(self) -> LinkKeys: ...


#: read one side's ``[platforms.<id>.link]`` table (file paths relative to the folder given); ``ConfigError`` names
#: the key inside the table
LinkLoader = Callable[[Mapping[str, Any], Path], DialectLink]
#: make a matched pair of development link settings (the gateway's side, the platform's side) under a folder
LinkGenerator = Callable[[Path, "Platform"], tuple[dict[str, Any], dict[str, Any]]]
ClientFactory = Callable[["WireContext", "Transport"], "PlatformClient"]
EndpointFactory = Callable[["WireContext", "ReplayGuard", "InboundHandler"], "PlatformEndpoint"]
#: install a simulator's answers beyond submissions: (the simulated platform, its spec, its WireContext)
SimulatorExtras = Callable[[Any, Any, Any], None]
#: (signature scheme, key id) as an operator reads them off one logged message's evidence headers (the console);
#: pure and total: a damaged header is described, never raised on
EvidenceDescriber = Callable[[Mapping[str, str]], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Everything the core needs from one dialect; each package's ``__init__`` declares one as ``DIALECT``."""

    name: str
    adapter: type[DialectAdapter]  # the codec: bytes ↔ canonical records, over the mapping tables
    mappings: Path  # the folder of its mapping tables (``mappings/<name>/`` for the built-in dialects)
    link_schema: type[BaseModel]  # the ``[platforms.<id>.link]`` table, checked whole by ``check-config``
    load_link: LinkLoader  # returns the dialect's Link (a ``DialectLink``)
    generate_link: LinkGenerator  # development credentials, both sides
    client: ClientFactory
    endpoint: EndpointFactory
    documented_rate: float  # requests per second a partner may send, from its document (``rate_limit`` overrides)
    evidence_headers: tuple[str, ...]  # lower-case request headers the message log keeps as evidence
    describe_evidence: EvidenceDescriber  # what those headers say: the scheme and the key id (the console shows it)
    #: the link setting naming the licence issuers a side trusts ({certificate serial or kid: key file}); None when
    #: the dialect's platforms issue no licences (README §2), so the gateway refuses licence queries towards them
    licence_trust: str | None = None
    #: a server-side TLS context for the mutual-TLS listener (g60.md §1), or None when the scheme does not need one
    server_ssl_context: Callable[[Any], ssl.SSLContext] | None = None
    simulator_extras: SimulatorExtras | None = None  # None: its simulators take submissions only
    consent_issuer: str | None = None  # the ``iss`` of the consent tokens its platforms issue (anhui.md §6.6)
    #: the development consent issuer's key ``generate_link`` wrote for a platform (folder, platform id), or None
    dev_consent_key: Callable[[Path, str], SigningKey] | None = None
    #: seconds within which its document promises that a repeated submission gets the first answer (g60.md §7: a
    #: MessageId within 7 days); idempotency records of its platforms are kept at least that long. None: no promise
    repeat_horizon: float | None = None

    @property
    def issues_licences(self) -> bool:
        return self.licence_trust is not None

    @property
    def needs_mutual_tls(self) -> bool:
        return self.server_ssl_context is not None


def imported_on_use(module: str, name: str = "install_simulator_extras") -> SimulatorExtras:
    """``module.name``, imported when first called: a package's simulator extras import the simulators, which its
    wire roles must never depend on (an import-linter contract), so its ``DIALECT`` names them this way."""

    def install(sim: Any, spec: Any, ctx: Any) -> None:
        extras: SimulatorExtras = vars(importlib.import_module(module))[name]
        extras(sim, spec, ctx)

    return install


# --- the registry -------------------------------------------------------------------------------------------------
_dialects: dict[str, Dialect] = {}
_packages: dict[str, str] = {}  # package → the dialect it declared


def _load(package: str, source: str, key: str) -> Dialect:
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ConfigError(
            source, key, f"cannot import {package!r} ({exc})", "install it or put it on PYTHONPATH"
        ) from exc
    declared = vars(module).get("DIALECT")
    if not isinstance(declared, Dialect):
        raise ConfigError(source, key, f"{package!r} declares no DIALECT", "add DIALECT = Dialect(...) to __init__")
    return declared


def register_packages(
    packages: Iterable[str], source: str = "configuration", key: str = "gateway.dialect_packages"
) -> None:
    """Import each package and register the ``Dialect`` it declares; a name taken by another package is refused.

    Idempotent: a package registered before is not imported again (check-config, then serve, in one process)."""
    for package in packages:
        if package in _packages:
            continue
        declared = _load(package, source, key)
        taken = _dialects.get(declared.name)
        if taken is not None and taken is not declared:
            raise ConfigError(
                source,
                key,
                f"{package!r} declares dialect {declared.name!r}, already registered",
                "give the new dialect its own name",
            )
        _dialects[declared.name] = declared
        _packages[package] = declared.name


_builtins_registered = False  # set once adapters.registry's packages are in; checked on every registry read


def _builtins() -> None:
    """Register the built-in dialect packages on first use. Checked by one flag afterwards: the message log reads
    the registry for every entry, and the import statement below alone is a few microseconds each time."""
    global _builtins_registered  # noqa: PLW0603 (set once, never unset)
    if _builtins_registered:
        return
    if not _packages.keys() >= set(_builtin_packages()):
        register_packages(_builtin_packages(), "adapters.registry", "PACKAGES")
    _builtins_registered = True


def _builtin_packages() -> tuple[str, ...]:
    from adapters.registry import PACKAGES  # noqa: PLC0415 (a list of names; importing it loads no dialect)

    return PACKAGES


def dialect(name: str, source: str = "platform registry", key: str = "dialect") -> Dialect:
    """The registered dialect called ``name``; ``ConfigError`` naming the known ones otherwise."""
    _builtins()
    found = _dialects.get(name)
    if found is None:
        raise ConfigError(source, key, f"{name!r} is not a dialect", f"use one of {', '.join(dialect_names())}")
    return found


_sorted: tuple[Dialect, ...] = ()  # all_dialects() as of the last registration (see all_dialects)


def all_dialects() -> tuple[Dialect, ...]:
    """Every registered dialect, by name. Kept from one registration to the next rather than sorted again: the
    message log asks for the evidence headers on every entry (each submission, each delivery twice)."""
    global _sorted  # noqa: PLW0603 (a cache of the registry above, replaced whole)
    _builtins()
    if len(_sorted) != len(_dialects):  # the registry only grows, one new name at a time
        _sorted = tuple(_dialects[name] for name in sorted(_dialects))
    return _sorted


def dialect_names() -> list[str]:
    return [d.name for d in all_dialects()]


_headers: tuple[tuple[Dialect, ...], tuple[str, ...]] = ((), ())


def evidence_headers() -> tuple[str, ...]:
    """Every registered dialect's evidence headers, sorted (the message log keeps these from any exchange, in this
    order); computed again only when the registry has changed (``all_dialects`` hands back the same tuple until
    then), not for every entry logged."""
    global _headers  # noqa: PLW0603 (a cache of the registry above, replaced whole)
    dialects = all_dialects()
    if _headers[0] is not dialects:
        _headers = (dialects, tuple(sorted({h for d in dialects for h in d.evidence_headers})))
    return _headers[1]
