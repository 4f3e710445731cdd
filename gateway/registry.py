"""The platform registry: which platforms exist, which dialect each speaks, where its items and regions are.

Read once from the configuration (``[platforms.<id>]`` and ``[dialects.<name>]`` tables, see
``config/gateway.toml``) into frozen objects. Adding a city on an existing dialect is one ``[platforms.<id>]``
entry here: its crosswalk column (or its own item codes), the regions it serves, and its site prefixes when its
dialect names items per site (the anhui site rule, anhui.md §6.1). No platform name appears in code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.base import DialectAdapter
from gateway.dialects import dialect, dialect_names
from gateway.errors import ConfigError
from mappings.tables import Tables

__all__ = ["Platform", "Registry", "item_codes_for", "load_registry"]

_NONE = object()


@dataclass(frozen=True, slots=True)
class Platform:
    """One platform of the registry (README §1)."""

    id: str
    dialect: str
    name: str = ""
    region: str = ""
    item_column: str | None = None  # crosswalk column naming this platform's item codes
    site_regions: tuple[str, ...] = ()  # region prefixes for which this site's item codes are used
    regions: tuple[str, ...] = ()  # regions this platform serves beyond crosswalk/regions.csv
    record_types: tuple[str, ...] = ()  # empty: every type its dialect carries
    settings: Mapping[str, Any] = field(default_factory=dict)  # base URL, credentials, limits (later layers)


@dataclass(frozen=True, slots=True)
class DialectSettings:
    name: str
    default_site: str | None = None  # the platform whose item codes a dialect uses when no site prefix matches


class Registry:
    """Platforms and dialect adapters, built once from configuration."""

    def __init__(self, platforms: Mapping[str, Platform], dialects: Mapping[str, DialectSettings], tables: Tables):
        self.platforms = dict(platforms)
        self.dialects = dict(dialects)
        self.tables = tables
        self._adapters: dict[str, DialectAdapter] = {}
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """A value derived from this registry only, made once (per-request work stays off the hot path)."""
        value = self._memo.get(key, _NONE)
        if value is _NONE:
            value = self._memo[key] = make()
        return value

    # --- names ---------------------------------------------------------------------------------------------------
    def resolve(self, name: str) -> tuple[str, Platform | None]:
        """A dialect name or a platform id → (dialect, the platform or None)."""
        if name in self.platforms:
            platform = self.platforms[name]
            return platform.dialect, platform
        if name in dialect_names():
            return name, None
        known = ", ".join(sorted({*dialect_names(), *self.platforms}))
        raise ConfigError("command line", "platform", f"{name!r} is not a dialect or platform id", f"use {known}")

    def platforms_of(self, dialect: str) -> list[Platform]:
        return [p for p in self.platforms.values() if p.dialect == dialect]

    # --- adapters ------------------------------------------------------------------------------------------------
    def adapter(self, name: str) -> DialectAdapter:
        """The dialect's adapter; it accepts the item codes of every platform speaking it (README §6)."""
        adapter = self._adapters.get(name)
        if adapter is None:
            columns = tuple(p.item_column for p in self.platforms_of(name) if p.item_column)
            declared = dialect(name)
            adapter = self._adapters[name] = declared.adapter(self.tables, columns, folder=declared.mappings)
        return adapter

    # --- items ---------------------------------------------------------------------------------------------------
    def item_site(self, dialect: str, region: str | None, platform: Platform | None = None) -> Platform | None:
        """The platform whose item codes name an item in ``dialect`` for ``region``.

        A dialect with several sites (anhui: Hefei and Huainan) picks the site whose prefixes match the region and
        otherwise its default site (anhui.md §6.1); a single-site dialect uses its platform.
        """
        sites = [p for p in self.platforms_of(dialect) if p.item_column]
        if region:
            for site in sites:
                if any(region.startswith(prefix) for prefix in site.site_regions):
                    return site
        default = self.dialects.get(dialect, DialectSettings(dialect)).default_site
        if default in self.platforms:
            return self.platforms[default]
        if platform is not None and platform.item_column:
            return platform
        return sites[0] if len(sites) == 1 else None

    def item_codes(self, dialect: str, record: Any, platform: Platform | None = None) -> Mapping[str, str] | None:
        """基本编码 → local code for ``record`` sent in ``dialect`` (to ``platform`` when given); None where the
        dialect names items by 基本编码.

        A destination platform with a column of its own receives its own codes (:func:`item_codes_for`): that is
        what its client encodes, so intake checks exactly what delivery sends (issue 13). Without one (a dialect
        named without a platform, as ``gateway translate --to anhui`` does, or a platform without a column) the
        dialect's site rule picks the column (anhui.md §6.1).
        """
        if platform is not None and platform.item_column is not None:
            return item_codes_for(self.tables, platform)
        region = getattr(record, "handling_region", None) or getattr(record, "region", None)
        key = ("item_codes", dialect, region, platform.id if platform is not None else None)
        return self.memo(key, lambda: self._item_codes(dialect, region, platform))  # type: ignore[no-any-return]

    def _item_codes(self, dialect: str, region: str | None, platform: Platform | None) -> dict[str, str] | None:
        site = self.item_site(dialect, region, platform)
        if site is None or site.item_column is None:
            return None
        return self.tables.crosswalk.columns.get(site.item_column, {})

    # --- routing -------------------------------------------------------------------------------------------------
    def serving_platform(self, region: str) -> str | None:
        """README §4: the platform serving a handling region (crosswalk/regions.csv plus configured regions)."""
        return self.tables.regions.platform.get(region)


def item_codes_for(tables: Tables, platform: Platform) -> Mapping[str, str] | None:
    """基本编码 → the implementing code ``platform`` names the item by; None when it names items by 基本编码.

    The one answer to "which item codes does this destination receive", used by intake for every destination of a
    route (README §10 step 10) and by every client when it encodes: a record intake accepted can always be encoded
    for each of its destinations. The site that receives a record names the item by its own implementing code
    (anhui.md §6.1: "the item at the Anhui site that files or receives the case"); an empty cell is an item the
    platform does not offer (``UNKNOWN_ITEM``, README §6).
    """
    if platform.item_column is None:
        return None
    return tables.crosswalk.columns.get(platform.item_column, {})


def _tuple(value: Any, source: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(source, key, f"{value!r} is not a list of strings", 'write e.g. ["3404"]')
    return tuple(value)


def load_registry(config: Mapping[str, Any], tables: Tables, source: str = "configuration") -> Registry:
    """Build the registry from the ``platforms`` and ``dialects`` tables of a parsed configuration."""
    platforms: dict[str, Platform] = {}
    raw_platforms = config.get("platforms", {})
    if not isinstance(raw_platforms, dict) or not raw_platforms:
        raise ConfigError(source, "platforms", "no platform is configured", "copy an entry of config/gateway.toml")
    for pid, entry in raw_platforms.items():
        key = f"platforms.{pid}"
        if not isinstance(entry, dict):
            raise ConfigError(source, key, "must be a table")
        dialect_name = entry.get("dialect")
        if dialect_name not in dialect_names():
            known = ", ".join(dialect_names())
            raise ConfigError(source, f"{key}.dialect", f"{dialect_name!r} is not a dialect", f"use one of {known}")
        column = entry.get("item_column")
        codes = entry.get("item_codes")
        if codes is not None:
            if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
                raise ConfigError(source, f"{key}.item_codes", "must map 基本编码 to local codes")
            unknown = sorted(set(codes) - set(tables.crosswalk.item_type))
            if unknown:
                raise ConfigError(source, f"{key}.item_codes", f"{unknown[0]!r} is not a 基本编码 of the crosswalk")
            column = column or pid
            tables = Tables(tables.codes, tables.crosswalk.with_column(column, codes), tables.regions)
        elif column is not None and column not in tables.crosswalk.columns:
            known = ", ".join(sorted(tables.crosswalk.columns))
            raise ConfigError(source, f"{key}.item_column", f"{column!r} is not a crosswalk column", f"use {known}")
        regions = _tuple(entry.get("regions"), source, f"{key}.regions")
        if regions:
            tables = Tables(tables.codes, tables.crosswalk, tables.regions.with_regions(pid, list(regions)))
        platforms[pid] = Platform(
            id=pid,
            dialect=dialect_name,
            name=str(entry.get("name", "")),
            region=str(entry.get("region", "")),
            item_column=column,
            site_regions=_tuple(entry.get("site_regions"), source, f"{key}.site_regions"),
            regions=regions,
            record_types=_tuple(entry.get("record_types"), source, f"{key}.record_types"),
            settings={k: v for k, v in entry.items() if k not in _PLATFORM_KEYS},
        )
    dialects = {
        name: DialectSettings(name, default_site=value.get("default_site"))
        for name, value in config.get("dialects", {}).items()
    }
    for name, ds in dialects.items():
        if ds.default_site is not None and ds.default_site not in platforms:
            raise ConfigError(source, f"dialects.{name}.default_site", f"{ds.default_site!r} is not a platform")
    return Registry(platforms, dialects, tables)


_PLATFORM_KEYS = frozenset(
    {"dialect", "name", "region", "item_column", "item_codes", "site_regions", "regions", "record_types"}
)
