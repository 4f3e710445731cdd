"""A platform's last hour as a small SVG chart drawn on the server: no charting library, no script.

Two polylines (inbound requests and outbound delivery attempts per minute) on one scale, with a ``<title>`` that
says what the chart shows for screen readers. Colours are SVG presentation attributes, not ``style``: the strict
Content-Security-Policy allows no inline style, and presentation attributes are not style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from markupsafe import Markup

__all__ = ["HEIGHT", "WIDTH", "chart_svg"]

WIDTH: Final = 240
HEIGHT: Final = 48
_PAD: Final = 2


def _points(series: Sequence[float], top: float) -> str:
    if not series:
        return ""
    step = (WIDTH - 2 * _PAD) / max(len(series) - 1, 1)
    scale = (HEIGHT - 2 * _PAD) / top
    return " ".join(f"{_PAD + i * step:.1f},{HEIGHT - _PAD - v * scale:.1f}" for i, v in enumerate(series))


_SVG: Final = (
    f'<svg class="chart" data-platform="{{platform}}" role="img" width="{WIDTH}" height="{HEIGHT}"'
    f' viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
    "<title>{title} (max {top}/min)</title>"
    f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f6f8fa" stroke="#c9d1d9"/>'
    '<polyline class="in" fill="none" stroke="#12355b" stroke-width="1.5" points="{inbound}"/>'
    '<polyline class="out" fill="none" stroke="#bf8700" stroke-width="1.5" points="{outbound}"/>'
    "</svg>"
)


def chart_svg(platform: str, inbound: Sequence[float], outbound: Sequence[float], title: str) -> Markup:
    """The chart of ``platform`` (``Markup.format`` escapes every value put in)."""
    top = max([*inbound, *outbound, 1.0])
    return Markup(_SVG).format(  # noqa: S704 (a constant template; format() escapes every value)
        platform=platform, title=title, top=f"{top:.0f}", inbound=_points(inbound, top), outbound=_points(outbound, top)
    )
