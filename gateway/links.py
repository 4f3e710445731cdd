"""Each platform link's credentials: read from configuration, or generated for development.

A platform entry may carry its side of the link inline (``[platforms.<id>.link]``, file paths relative to the
configuration file) or, on the embedded default, take development credentials from ``[dev] credentials``: a folder
where every link's keys, certificates and secrets are generated on first start, for both sides (the gateway's side
under ``links/gateway/<id>.json``, the simulated platform's under ``links/platform/<id>.json``). Development
credentials are for the demo, the simulators and tests; production links are issued by the platform operators.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.dialects import dialect
from gateway.errors import ConfigError
from gateway.registry import Registry

__all__ = ["LinkSettings", "dev_link_settings", "gateway_link_settings"]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """One side of one link, still as settings: ``load_link(settings, base)`` of the dialect reads it."""

    settings: Mapping[str, Any]
    base: Path


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def dev_link_settings(folder: Path, registry: Registry) -> tuple[dict[str, LinkSettings], dict[str, LinkSettings]]:
    """Development credentials for every platform link, generated once under ``folder``: (gateway sides, platform
    sides) by platform id.

    Generated under an exclusive lock on ``folder/.lock``: ``gateway serve`` and ``gateway simulate`` started together
    in two terminals would otherwise each generate a different set, and every signature between them would fail."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _dev_link_settings(folder, registry)


def _dev_link_settings(folder: Path, registry: Registry) -> tuple[dict[str, LinkSettings], dict[str, LinkSettings]]:
    gateway: dict[str, LinkSettings] = {}
    platform: dict[str, LinkSettings] = {}
    for pid, entry in registry.platforms.items():
        gw_file = folder / "links" / "gateway" / f"{pid}.json"
        pf_file = folder / "links" / "platform" / f"{pid}.json"
        if not (gw_file.exists() and pf_file.exists()):
            gw, pf = dialect(entry.dialect).generate_link(folder, entry)
            _write_json(pf_file, pf)
            _write_json(gw_file, gw)
        gateway[pid] = LinkSettings(json.loads(gw_file.read_text(encoding="utf-8")), folder)
        platform[pid] = LinkSettings(json.loads(pf_file.read_text(encoding="utf-8")), folder)
    _trust_every_issuer(folder, registry, gateway, platform)
    return gateway, platform


def _trust_every_issuer(
    folder: Path, registry: Registry, gateway: dict[str, LinkSettings], platform: dict[str, LinkSettings]
) -> None:
    """Every development link trusts every development licence issuer (anhui.md §6.6: a licence signed in Hefei
    is verified in Ningbo), as issuers' certificates would be distributed in production. The trust setting of each
    link is its dialect's ``Dialect.licence_trust``."""
    issuers: dict[str, str] = {}
    for pid, entry in registry.platforms.items():
        setting = dialect(entry.dialect).licence_trust
        if setting is not None:
            issuers.update(gateway[pid].settings.get(setting, {}))
    for sides, kind in ((gateway, "gateway"), (platform, "platform")):
        for pid, side in sides.items():
            setting = dialect(registry.platforms[pid].dialect).licence_trust
            if setting is None:
                continue
            trusted = {**side.settings.get(setting, {}), **issuers}
            if trusted != side.settings.get(setting):
                settings = {**side.settings, setting: trusted}
                _write_json(folder / "links" / kind / f"{pid}.json", settings)
                sides[pid] = LinkSettings(settings, folder)


def gateway_link_settings(
    registry: Registry, config_dir: Path, dev_folder: Path | None, source: str
) -> dict[str, LinkSettings]:
    """The gateway's side of every link: inline ``link`` tables first, development credentials otherwise."""
    dev: dict[str, LinkSettings] = {}
    if dev_folder is not None and any("link" not in p.settings for p in registry.platforms.values()):
        dev, _ = dev_link_settings(dev_folder, registry)
    out: dict[str, LinkSettings] = {}
    for pid, platform in registry.platforms.items():
        inline = platform.settings.get("link")
        if isinstance(inline, Mapping):
            out[pid] = LinkSettings(inline, config_dir)
        elif pid in dev:
            out[pid] = dev[pid]
        else:
            raise ConfigError(
                source,
                f"platforms.{pid}.link",
                "no credentials for this platform",
                "add a [platforms.<id>.link] table or set [dev] credentials for development",
            )
    return out
