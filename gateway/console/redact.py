"""The running configuration as an operator may see it: every setting, secrets redacted.

A value is redacted when its key names a secret (``password``, ``secret``, ``token``, ``key``, ``pin``) unless the
key only says where the secret is (``*_file``, ``*_env``, ``*_id``, ``*_dir``: a path or a name, not the secret), and
the password in a URL's user part (``postgresql://user:PASSWORD@host``) is always redacted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["REDACTED", "redacted_settings"]

REDACTED: Final = "••• redacted"
_SECRET_KEY: Final = re.compile(r"(password|passwd|secret|token|(^|_)key(s)?$|(^|_)pin$|credential)", re.IGNORECASE)
_LOCATOR: Final = re.compile(r"_(file|env|id|dir|path|url)$", re.IGNORECASE)
_URL_PASSWORD: Final = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+(?P<at>@)", re.IGNORECASE)


def _is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _LOCATOR.search(key)


def _value(key: str, value: Any) -> str:
    if _is_secret(key):
        return REDACTED
    text = str(value)
    return _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + m["at"], text)


def redacted_settings(raw: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, shown value) of every scalar or list in ``raw``, depth first, secrets redacted."""
    rows: list[tuple[str, str]] = []
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            if _is_secret(str(key)):
                rows.append((path, REDACTED))
            else:
                rows.extend(redacted_settings(value, path))
        else:
            rows.append((path, _value(str(key), value)))
    return rows
