"""Reading a database URL (``sqlite:///path.db?...`` or ``postgresql://...``) into a target and typed options.

Shared by the store and the message log, which take the same URL forms. Errors never repeat the URL: it may hold
a password.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import InvalidStoreURL

__all__ = ["POSTGRES_OPTIONS", "SQLITE_OPTIONS", "DatabaseURL", "read_database_url"]

Options = Mapping[str, Callable[[str], Any]]

#: The query options both the store and the message log take (the log adds ``batch_max`` on PostgreSQL).
SQLITE_OPTIONS: Final[Options] = {"busy_timeout": float, "batch_max": int}
POSTGRES_OPTIONS: Final[Options] = {"schema": str, "min_size": int, "max_size": int, "connect_timeout": float}


class DatabaseURL:
    """``kind`` "sqlite" (``target`` a file path) or "postgres" (``target`` a DSN without our options)."""

    __slots__ = ("kind", "options", "target")

    def __init__(self, kind: str, target: str, options: dict[str, Any]) -> None:
        self.kind = kind
        self.target = target
        self.options = options


def _split(query: str, known: Options, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    options: dict[str, Any] = {}
    rest: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in known:
            rest[key] = value
            continue
        try:
            options[key] = known[key](value)
        except ValueError as exc:
            raise InvalidStoreURL(
                "open", f"{what} URL option {key}={value!r} is not a valid {known[key].__name__}"
            ) from exc
    return options, rest


def read_database_url(url: str, *, sqlite_options: Options, postgres_options: Options, what: str) -> DatabaseURL:
    """The URL's kind, target and typed options; unknown sqlite options are refused, unknown PostgreSQL ones go on
    to the driver in the DSN."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise InvalidStoreURL("open", f"the {what} URL has no scheme; use sqlite:///path.db or postgresql://...")
    scheme = scheme.lower()
    if scheme == "sqlite":
        path, _, query = url[len("sqlite://") :].partition("?")
        if not path:
            raise InvalidStoreURL("open", "sqlite URL has no file path; use sqlite:///path/to/file.db")
        options, rest = _split(query, sqlite_options, what)
        if rest:
            known = sorted(sqlite_options)
            raise InvalidStoreURL("open", f"unknown sqlite URL option(s) {sorted(rest)}; known: {known}")
        return DatabaseURL("sqlite", path, options)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        options, rest = _split(parts.query, postgres_options, what)
        return DatabaseURL("postgres", urlunsplit(parts._replace(query=urlencode(rest))), options)
    raise InvalidStoreURL("open", f"unknown {what} URL scheme {scheme!r}; use sqlite or postgresql")
