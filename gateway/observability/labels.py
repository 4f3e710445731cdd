"""Bounded label values for metrics: anything outside a configured allow-list becomes ``other``.

A Prometheus label with an unbounded value (a case number, an ID number, a name, free text) is both a privacy leak
(PIPL: the value ends up in the TSDB, in dashboards and in alert e-mails) and a cardinality bomb. So every label
value the gateway writes passes through :class:`LabelGuard`, built once from configuration (platform ids,
destinations, key ids, region codes) and from closed sets in code (``RejectionCode``, delivery outcome kinds).
A value that is not allowed is written as ``other`` and counted in ``tongban_metric_label_rejections_total`` by
label name (never by value), so an operator sees that a caller or the configuration is wrong.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

__all__ = ["OTHER", "LabelGuard"]

OTHER = "other"


class LabelGuard:
    """Per label name, the set of values allowed; :meth:`clean` maps the rest to ``other``."""

    def __init__(self, allowed: Mapping[str, Iterable[str]], *, on_reject: Callable[[str], None] | None = None) -> None:
        self._allowed = MappingProxyType({name: frozenset(values) | {OTHER} for name, values in allowed.items()})
        self._on_reject = on_reject

    def names(self) -> tuple[str, ...]:
        """The label names the guard was built with (the values of ``tongban_metric_label_rejections``)."""
        return tuple(self._allowed)

    def allowed(self, label: str) -> frozenset[str]:
        """The values ``label`` may take (``other`` included)."""
        return self._allowed[label]

    def clean(self, label: str, value: object) -> str:
        """``value`` as a label value if it is allowed for ``label``, else ``other``.

        Enum members count by their value (``RejectionCode.MALFORMED`` → ``MALFORMED``). Raises ``KeyError`` for a
        label name the guard was not built with: that is a programming error, not data.
        """
        allowed = self._allowed[label]
        text = value.value if isinstance(value, enum.Enum) else value
        if isinstance(text, str) and text in allowed:
            return text
        if self._on_reject is not None:
            self._on_reject(label)
        return OTHER
