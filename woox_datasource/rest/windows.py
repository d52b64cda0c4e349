"""Splitting a history range into klineHistory requests (pure arithmetic, no I/O), and the
records those requests produce.

klineHistory pages backwards from a ``before`` cursor, at most 1000 rows per page. A range is cut
into windows of at most 1000 candles that tile ``[start, end)`` without gaps or overlap *in time*
(not merely in our own candle grid): a row the exchange returns belongs to the window whose time
span holds its open time, so every row in the range lands in exactly one window even if the
exchange anchors a timeframe differently from our assumption (``1w``).
"""

from __future__ import annotations

import attrs

from host_stub.spec import OHLCV
from woox_datasource.timeframes import Timeframe, ceil_open, count_opens, nth_open
from woox_datasource.wire import MAX_KLINE_LIMIT


@attrs.frozen
class Window:
    """Candles opening in ``[start, end)``; ``count`` of them by our grid."""

    start: int
    end: int
    count: int

    @property
    def limit(self) -> int:
        """Rows to ask for with ``before=end``: the count plus one row of slack, whose presence
        (a row older than ``start``) proves the window complete whatever the exchange's anchor."""
        return min(MAX_KLINE_LIMIT, self.count + 1)

    def complete_from(self, tf: Timeframe) -> int:
        """Paging may stop once a row opens at or before our first open in the window.

        This holds even if the exchange anchors the timeframe elsewhere (same step, other
        phase): an exchange row between ``start`` and that row would be a second exchange open
        within one step of ``start``, which a grid of that step cannot have."""
        return ceil_open(tf, self.start)


@attrs.frozen
class Page:
    """What one klineHistory request said: its closed candles (ascending, de-duplicated), the
    oldest open time among all its rows (forming ones included; None if it had none), whether it
    was ``short`` (fewer rows than asked for: nothing older than its oldest row, or than the
    cursor if it was empty, exists), and the exchange's clock when it answered."""

    candles: list[OHLCV]
    oldest: int | None
    short: bool
    server_ms: int | None


@attrs.frozen
class WindowResult:
    """A window's closed candles, ascending; ``exhausted`` when its last page proved that the
    exchange has nothing older (the symbol's first candle is in or after the window)."""

    candles: list[OHLCV]
    exhausted: bool
    server_ms: int | None


def later_ms(a: int | None, b: int | None) -> int | None:
    """The later of two exchange timestamps, either of which may be unknown."""
    return b if a is None else a if b is None else max(a, b)


def plan_windows(
    tf: Timeframe, start: int, end: int, *, max_candles: int = MAX_KLINE_LIMIT
) -> list[Window]:
    """Windows of at most ``max_candles`` candles tiling ``[start, end)`` in ascending order.

    A range holding no open of our grid needs no request at all, except where our anchor is an
    assumption: the exchange might still have a candle there, so one small window asks."""
    if max_candles < 1:
        raise ValueError("max_candles must be >= 1")
    total = count_opens(tf, start, end)
    if total == 0:
        return [Window(start, end, 0)] if tf.anchor_assumed and start < end else []
    windows: list[Window] = []
    low = start
    for k in range(max_candles, total, max_candles):
        boundary = nth_open(tf, start, k)
        windows.append(Window(low, boundary, max_candles))
        low = boundary
    windows.append(Window(low, end, total - max_candles * len(windows)))
    return windows
