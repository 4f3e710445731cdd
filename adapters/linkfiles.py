"""Reading and writing one side's link credentials: the helpers every dialect's ``load_link`` and ``generate_link``
share, so that a missing file, a wrong key type or an unreadable secret is refused the same way everywhere.

``LinkReader`` reads a ``[platforms.<id>.link]`` table with file names relative to the configuration's folder;
every problem is a ``ConfigError`` naming the key inside the table (``peer_jws_keys.<kid>``), which
``check-config`` prefixes with ``platforms.<id>.link``. ``write_file`` and ``write_keypair`` write development
credentials, private files mode 0600 (also when the file existed with wider rights).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import ConfigError
from signing import devpki
from signing.errors import SigningError
from signing.keys import alg_for_key, load_private_key_file, load_public_key_file
from signing.secret import Secret, secret_from_file

__all__ = ["LinkReader", "write_file", "write_keypair"]

T = TypeVar("T")
_GIVEN: Any = object()  # ``file(key)`` reads the value of ``key``; ``file(key, value)`` a value found elsewhere


class LinkReader:
    """One side's link table being read (see the module docstring); ``source`` names the dialect's settings."""

    def __init__(self, source: str, settings: Mapping[str, Any], base: Path) -> None:
        self.source = source
        self.settings = settings
        self.base = base

    def refuse(self, key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(self.source, key, problem, fix)

    def text(self, key: str, *, required: bool = True) -> str:
        """A non-empty string; ``""`` for an optional key that is absent."""
        value = self.settings.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            raise self.refuse(key, "missing or not a non-empty string", f"set {key} in the link table")
        return value

    def optional(self, key: str) -> str | None:
        return self.text(key) if self.settings.get(key) is not None else None

    def table(self, key: str, *, required: bool = False) -> Mapping[str, Any]:
        """A table of names to values (file names, mostly); empty when optional and absent."""
        value = self.settings.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping) or (required and not value):
            raise self.refuse(key, "missing or not a table of names to file paths", f"set [{key}]")
        return value

    def file(self, key: str, value: Any = _GIVEN, *, required: bool = True) -> Path | None:
        """The existing file named by ``key`` (or by ``value``, reported as ``key``); None when optional and absent."""
        rel = self.settings.get(key) if value is _GIVEN else value
        if rel is None and not required:
            return None
        if rel is None:
            raise self.refuse(key, "is missing", "name the file (development links: generate_link writes it)")
        if not isinstance(rel, str) or not rel:
            raise self.refuse(key, f"{rel!r} is not a file name", "give a path relative to the configuration folder")
        path = self.base / rel
        if not path.is_file():
            raise self.refuse(key, f"file {rel!r} does not exist under {self.base}", "create or mount the credential")
        return path

    def required_file(self, key: str, value: Any = _GIVEN) -> Path:
        path = self.file(key, value)
        if path is None:  # pragma: no cover - file(required=True) never answers None
            raise self.refuse(key, "is missing")
        return path

    def read(self, key: str, what: str, load: Callable[[Path], T], path: Path) -> T:
        """``load(path)``; a file it cannot read is refused naming ``key`` and what was expected."""
        try:
            return load(path)
        except (SigningError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, SigningError) else type(exc).__name__
            raise self.refuse(key, f"cannot read the {what} in {path.name} ({reason})", "check the file") from exc

    def _typed(self, key: str, loaded: Any, alg: str | None) -> Any:
        if alg is not None and alg_for_key(loaded) != alg:
            raise self.refuse(key, f"not an {alg} key", f"give an {alg} key")
        return loaded

    def private_key(self, key: str, alg: str | None = None, value: Any = _GIVEN) -> Any:
        """The PEM private key in the file named by ``key``, of algorithm ``alg`` when given."""
        path = self.required_file(key, value)
        return self._typed(key, self.read(key, "private key", load_private_key_file, path), alg)

    def public_key(self, key: str, value: Any = _GIVEN, alg: str | None = None) -> Any:
        path = self.required_file(key, value)
        return self._typed(key, self.read(key, "public key", load_public_key_file, path), alg)

    def public_keys(self, key: str, alg: str | None = None, *, required: bool = False) -> dict[str, Any]:
        """A table of names (kid, certificate serial) to public key files, read and checked one by one."""
        return {
            str(name): self.public_key(f"{key}.{name}", rel, alg)
            for name, rel in self.table(key, required=required).items()
        }

    def secret(self, key: str, value: Any = _GIVEN) -> Secret:
        return self.read(key, "secret", secret_from_file, self.required_file(key, value))


def write_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data``; a private file is created 0600 and set 0600 also when it existed with wider rights."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if private:
        path.chmod(0o600)


def write_keypair(folder: Path, name: str, key: Any) -> tuple[str, str]:
    """``<name>.pem`` (private) and ``<name>.pub.pem`` under ``folder``; their names relative to its parent."""
    write_file(folder / f"{name}.pem", devpki.private_key_pem(key), private=True)
    write_file(folder / f"{name}.pub.pem", devpki.public_key_pem(key))
    return f"{folder.name}/{name}.pem", f"{folder.name}/{name}.pub.pem"
