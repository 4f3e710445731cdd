"""SIGHUP: read the configuration file again and apply what may change while the gateway runs.

The new file is read and checked whole first (``load_config``: every table, the registry, routes, delivery); if it
does not pass, the error is logged and the running configuration stays, untouched. Otherwise:

- **applied at once**: each platform's ``rate_limit`` (the partner's token bucket is retuned) and the delivery
  retry policy (``[delivery]`` and ``[delivery.destinations.<id>]``: attempts, delays, max age, short retries),
  used from the next attempt on;
- **needs a restart** (logged by key, the running value kept): everything else, chiefly the listeners
  (``[server]``: host, ports, TLS, the shutdown grace), the store and message log URLs and keys, the platform
  registry itself (platforms, dialects, base URLs, link credentials), routes, the breaker and worker settings and
  the admin token. These are built into the app's objects at start (sockets, connection pools, signed-link
  state, per-platform sub-applications), and swapping them under running requests would trade a restart's
  seconds for states no test covers.

A reload never stops the process: every failure is logged, and the gateway keeps serving as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.config import Config, load_config
from gateway.dialects import dialect
from gateway.errors import ConfigError

from .keys import WORKER
from .limits import TokenBucket

__all__ = ["RATE_BUCKETS", "ReloadOutcome", "reload_config", "restart_keys"]

log = logging.getLogger("gateway.reload")

#: each partner's inbound token bucket, by platform id (the edge middleware holds the same objects)
RATE_BUCKETS = web.AppKey("rate_buckets", dict)


class ReloadOutcome:
    """What one SIGHUP did: the keys applied, the keys that need a restart, or the error that kept the old file."""

    def __init__(self, applied: list[str], restart: list[str], error: str | None = None) -> None:
        self.applied = applied
        self.restart = restart
        self.error = error


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: data}


def _reloadable(key: str) -> bool:
    parts = key.split(".")
    if parts[0] == "platforms" and len(parts) == 3 and parts[2] == "rate_limit":
        return True
    return parts[0] == "delivery" and len(parts) > 1 and parts[1] not in ("breaker", "worker")


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def restart_keys(running: Config, new: Config) -> list[str]:
    """The changed keys a reload cannot apply (names only: values may be secrets)."""
    return [k for k in _changed(running.raw, new.raw) if not _reloadable(k)]


def reload_config(app: web.Application, started: Config, loaded: Config) -> tuple[Config, ReloadOutcome]:
    """Read ``started.source`` again and apply it to ``app``; returns the configuration now in effect for the
    reloadable settings (``loaded`` when the file was refused) and what happened, which is also logged."""
    try:
        new = load_config(started.source)
    except ConfigError as exc:
        log.error(
            "configuration reload refused, the running configuration stays: %s",
            exc,
            extra={"event": "config_reload", "outcome": "refused"},
        )
        return loaded, ReloadOutcome([], [], str(exc))
    applied = [k for k in _changed(loaded.raw, new.raw) if _reloadable(k)]
    restart = restart_keys(started, new)
    _apply_rates(app, new)
    worker = app.get(WORKER)
    if worker is not None:
        delivery = new.delivery_settings()
        worker.policies = dict(delivery.per_destination)
        worker.default_policy = delivery.default
    log.info(
        "configuration reloaded from %s: applied %s",
        new.source,
        ", ".join(applied) or "no changes",
        extra={"event": "config_reload", "outcome": "applied", "applied": applied},
    )
    if restart:
        log.warning(
            "configuration keys changed that need a restart (the running values stay until then): %s",
            ", ".join(restart),
            extra={"event": "config_reload", "restart_needed": restart},
        )
    return new, ReloadOutcome(applied, restart)


def _apply_rates(app: web.Application, new: Config) -> None:
    buckets: dict[str, TokenBucket] = app.get(RATE_BUCKETS, {})
    for pid, bucket in buckets.items():
        platform = new.registry.platforms.get(pid)
        if platform is None:
            continue  # a removed platform needs a restart (restart_keys names it)
        rate = float(platform.settings.get("rate_limit", dialect(platform.dialect).documented_rate))
        if rate != bucket.rate:
            bucket.rate = rate
            bucket.burst = max(rate, 1.0)
            bucket.tokens = min(bucket.tokens, bucket.burst)
