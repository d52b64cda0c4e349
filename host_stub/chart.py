"""Candlestick charts with volume, as a PNG or a self-contained HTML page (optional extra
``chart``, which brings matplotlib).

matplotlib because it serves a terminal user best: it renders PNG and SVG itself, with no browser
and no network at run time (plotly needs kaleido and a Chrome for a PNG, bokeh a browser driven
by selenium), installs from one wheel, and is the most widely kept plotting library in Python.
The HTML page embeds the chart as SVG: one file that opens anywhere, zooms without blurring, and
needs no script. The chart uses matplotlib's object API (``Figure``), never ``pyplot``: no GUI
backend, no global state.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from html import escape
from pathlib import Path

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from host_stub.spec import OHLCV

UP = "#26a69a"
DOWN = "#ef5350"
SUFFIXES = (".png", ".html")


class ChartError(ValueError):
    """The chart cannot be drawn as asked (no candles, an unknown file type)."""


def chart_kind(path: Path) -> str:
    """``png`` or ``html`` from the file name, or :class:`ChartError` saying what is possible."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ChartError(
            f"cannot tell the chart's format from {str(path)!r}: name the file .png or .html"
        )
    return suffix[1:]


def figure(candles: Sequence[OHLCV], title: str, zone: tzinfo = UTC) -> Figure:
    """Candles above, volume below, on one time axis labelled in ``zone``."""
    if not candles:
        raise ChartError("no candles to chart")
    fig = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    price, volume = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    opens = [_day(c.open_time) for c in candles]
    closes = [_day(c.close_time) for c in candles]
    centers = [(a + b) / 2 for a, b in zip(opens, closes, strict=True)]
    widths = [(b - a) * 0.7 for a, b in zip(opens, closes, strict=True)]
    colors = [UP if c.close >= c.open else DOWN for c in candles]
    lows = [float(c.low) for c in candles]
    highs = [float(c.high) for c in candles]
    bottoms = [float(min(c.open, c.close)) for c in candles]
    heights = [float(abs(c.close - c.open)) for c in candles]
    price.vlines(centers, lows, highs, colors=colors, linewidth=0.8)
    # a body of zero height (open == close) still shows as a line
    span = max(highs) - min(lows) or 1.0
    heights = [max(h, span / 2000) for h in heights]
    price.bar(centers, heights, widths, bottoms, color=colors, linewidth=0)
    volume.bar(centers, [float(c.volume) for c in candles], widths, color=colors, linewidth=0)
    price.set_title(title, loc="left")
    price.set_ylabel("price")
    volume.set_ylabel("volume")
    volume.set_xlabel(f"time ({getattr(zone, 'key', None) or zone})")
    for axes in (price, volume):
        axes.grid(True, color="#e0e0e0", linewidth=0.6)
        axes.set_axisbelow(True)
    locator = AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
    volume.xaxis.set_major_locator(locator)
    volume.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))  # type: ignore[no-untyped-call]
    volume.set_xlim(
        opens[0] - (closes[0] - opens[0]) / 2, closes[-1] + (closes[-1] - opens[-1]) / 2
    )
    return fig


def render(candles: Sequence[OHLCV], path: Path, title: str, zone: tzinfo = UTC) -> None:
    """Write the chart to ``path`` (``.png`` or ``.html``). Blocking work: call it off the
    event loop."""
    kind = chart_kind(path)
    fig = figure(candles, title, zone)
    if kind == "png":
        fig.savefig(path, format="png")
        return
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    page = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head>\n"
        "<body style='margin:0;background:#fff'>\n"
        + svg.getvalue()[svg.getvalue().index("<svg") :]  # without its XML prolog and DOCTYPE
        + "\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")


def _day(ms: int) -> float:
    """matplotlib's time unit (days since its epoch, 1970 by default) for epoch ms."""
    return float(date2num(datetime.fromtimestamp(ms / 1000, UTC)))  # type: ignore[no-untyped-call]
