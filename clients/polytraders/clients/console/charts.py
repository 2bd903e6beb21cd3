"""Charts drawn as SVG on the server: nothing to build, vendor or run in the browser.

Values arrive as exact integers (micro-units) or decimal strings; only the pixel geometry is
computed in floats, and every label shows the exact value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    shown: str
    """The exact value as the label shows it."""


def columns(bars: Sequence[Bar], *, width: int = 720, height: int = 220, title: str = "") -> str:
    """Vertical bars around a zero line: positive up (green), negative down (red)."""
    if not bars:
        return '<p class="empty">nothing to chart yet</p>'
    top = max(max(b.value for b in bars), Decimal(0))
    bottom = min(min(b.value for b in bars), Decimal(0))
    span = (top - bottom) or Decimal(1)
    plot = height - 40
    zero = 10 + float(top / span) * plot
    step = width / len(bars)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             f'<line x1="0" x2="{width}" y1="{zero:.1f}" y2="{zero:.1f}" class="axis"/>']  # fmt: skip
    for index, bar in enumerate(bars):
        size = float(abs(bar.value) / span) * plot
        y = zero - size if bar.value >= 0 else zero
        x = index * step + step * 0.15
        kind = "up" if bar.value >= 0 else "down"
        parts.append(f'<rect class="bar {kind}" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{max(size, 0.5):.1f}">'
                     f'<title>{escape(bar.label)}: {escape(bar.shown)}</title></rect>')  # fmt: skip
        if len(bars) <= 12 or index % (len(bars) // 6 or 1) == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="tick">{escape(bar.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def meter(value: Decimal, *, limit: Decimal = Decimal(1), threshold: Decimal | None = None, width: int = 220) -> str:
    """A horizontal bar of `value` out of `limit` (an error budget, a burn rate against its threshold)."""
    share = max(Decimal(0), min(value / limit, Decimal(1))) if limit else Decimal(0)
    kind = "down" if value < 0 or (threshold is not None and value > threshold) else "up"
    mark = ""
    if threshold is not None and limit:
        at = float(min(threshold / limit, Decimal(1))) * width
        mark = f'<line class="threshold" x1="{at:.1f}" x2="{at:.1f}" y1="0" y2="14"/>'
    return (f'<svg class="meter" viewBox="0 0 {width} 14" width="{width}" height="14">'
            f'<rect class="track" width="{width}" height="14"/>'
            f'<rect class="bar {kind}" width="{float(share) * width:.1f}" height="14"/>{mark}</svg>')  # fmt: skip
