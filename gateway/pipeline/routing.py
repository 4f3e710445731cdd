"""Where a record goes (README §4), decided in pure code from the registry and the configured routes.

- A case goes to the platform serving its handling region (crosswalk/regions.csv plus configured regions). G60
  member cities with a platform of their own (合肥 → hefei, 松江 → songjiang) are served directly, as README §4 says.
- A status event goes back to the platform its case came from (the case's origin, known from the inbound records),
  or, for a case the gateway never carried, to the platform serving the handling region.
- An evaluation goes to the platform serving its region (the department evaluated).
- A configured route (一窗办 fan-out) replaces the default for matching record types and regions: one case may go to
  several destinations, each tracked and retried on its own.

The sender is never a destination of its own record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.registry import Registry

__all__ = ["Route", "Router", "load_routes"]


@dataclass(frozen=True, slots=True)
class Route:
    """A configured route: records of ``record_types`` handled in ``regions`` go to all ``destinations``."""

    record_types: frozenset[str]
    regions: frozenset[str]
    destinations: tuple[str, ...]


def load_routes(raw: Any, registry: Registry, source: str) -> tuple[Route, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(source, "routes", "must be an array of tables", "write [[routes]] entries")
    routes = []
    for i, entry in enumerate(raw):
        key = f"routes[{i}]"
        destinations = entry.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            raise ConfigError(source, f"{key}.destinations", f"{destinations!r} is not a list of platform ids")
        for d in destinations:
            if d not in registry.platforms:
                raise ConfigError(source, f"{key}.destinations", f"{d!r} is not a configured platform")
        routes.append(Route(
            frozenset(entry.get("record_types", ["case"])),
            frozenset(entry.get("regions", [])),
            tuple(destinations),
        ))
    return tuple(routes)


def region_of(record_type: str, record: Any) -> str:
    value = record.region if record_type == "evaluation" else record.handling_region
    return str(value)


class Router:
    def __init__(self, registry: Registry, routes: Sequence[Route] = ()) -> None:
        self.registry = registry
        self.routes = tuple(routes)

    def destinations(self, record_type: str, record: Any, source: str, origin: str | None = None) -> list[str]:
        """The destinations of ``record`` sent by ``source``; ``origin`` is a status event's case origin."""
        region = region_of(record_type, record)
        chosen: list[str] = []
        for route in self.routes:
            if record_type in route.record_types and region in route.regions:
                chosen.extend(d for d in route.destinations if d not in chosen)
        if not chosen:
            if record_type == "status" and origin is not None:
                chosen = [origin]
            else:
                serving = self.registry.serving_platform(region)
                if serving is not None:
                    chosen = [serving]
        chosen = [d for d in chosen if d != source]
        if not chosen:
            raise Refusal(
                C.RULE_VIOLATION, None, "the record is handled by its sender: there is no other platform to deliver to"
            )
        return chosen


def origin_key(case_no: str) -> str:
    return f"{case_no}:"


