"""Candle boundaries as the simulated exchange draws them.

This is the simulator's own calendar arithmetic, written apart from the plugin's timeframes module
on purpose: if both sides shared one implementation, a wrong boundary would agree with itself and no
test could catch it. Every interval is reduced to an integer period index so that any candle can be
reached in O(1) from its index, whatever the timeframe (a year of 1m candles, a century of months).

Alignment (the real exchange does not document all of it, so these are the simulator's stated
assumptions):

* minute, hour and day intervals are aligned to the Unix epoch (``start % length == 0``);
* ``3d`` (WebSocket only) is epoch-aligned too: 1970-01-01 + k * 3 days;
* ``1w`` starts on Monday 00:00 UTC;
* ``1mon`` (WebSocket spelling ``1M``) starts on the first day of each calendar month, UTC;
* ``1y`` starts on January 1st, UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
_MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; 1970-01-05 the first Monday.


class Kind(enum.Enum):
    """How an interval's boundaries are laid out."""

    FIXED = "fixed"
    MONTH = "month"
    YEAR = "year"


@attrs.frozen
class Interval:
    """One candle length. ``name`` is the simulator's canonical spelling: the REST one where REST
    has the interval, ``3d`` for the WebSocket-only one. ``length_ms`` is exact for fixed intervals
    and nominal (30 d, 365 d) for calendar ones."""

    name: str
    kind: Kind
    length_ms: int
    offset_ms: int = 0

    def index_of(self, ms: int) -> int:
        """Index of the period containing ``ms`` (periods are ``[start, end)``)."""
        if self.kind is Kind.FIXED:
            return (ms - self.offset_ms) // self.length_ms
        year, month, _ = civil_from_days(ms // DAY_MS)
        if self.kind is Kind.MONTH:
            return (year - 1970) * 12 + (month - 1)
        return year - 1970

    def start_of(self, index: int) -> int:
        """Opening time of period ``index``."""
        if self.kind is Kind.FIXED:
            return self.offset_ms + index * self.length_ms
        if self.kind is Kind.MONTH:
            year, month0 = divmod(index, 12)
            return days_from_civil(1970 + year, month0 + 1, 1) * DAY_MS
        return days_from_civil(1970 + index, 1, 1) * DAY_MS

    def floor(self, ms: int) -> int:
        """Opening time of the candle containing ``ms``."""
        return self.start_of(self.index_of(ms))

    def is_aligned(self, ms: int) -> bool:
        return self.floor(ms) == ms

    def minutes(self, index: int) -> tuple[int, int]:
        """The candle's ``[first, end)`` minute numbers since the epoch."""
        return self.start_of(index) // MINUTE_MS, self.start_of(index + 1) // MINUTE_MS


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).

    Pure integer arithmetic, so it works for any year; ``datetime`` would overflow on cursors
    such as ``before=99999999999999``."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """Inverse of :func:`days_from_civil`: ``(year, month, day)``."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _fixed(name: str, length_ms: int, offset_ms: int = 0) -> Interval:
    return Interval(name, Kind.FIXED, length_ms, offset_ms)


INTERVALS: Mapping[str, Interval] = {
    iv.name: iv
    for iv in (
        _fixed("1m", MINUTE_MS),
        _fixed("3m", 3 * MINUTE_MS),
        _fixed("5m", 5 * MINUTE_MS),
        _fixed("15m", 15 * MINUTE_MS),
        _fixed("30m", 30 * MINUTE_MS),
        _fixed("1h", HOUR_MS),
        _fixed("2h", 2 * HOUR_MS),
        _fixed("4h", 4 * HOUR_MS),
        _fixed("6h", 6 * HOUR_MS),
        _fixed("12h", 12 * HOUR_MS),
        _fixed("1d", DAY_MS),
        _fixed("3d", 3 * DAY_MS),
        _fixed("1w", WEEK_MS, _MONDAY_OFFSET_MS),
        Interval("1mon", Kind.MONTH, 30 * DAY_MS),
        Interval("1y", Kind.YEAR, 365 * DAY_MS),
    )
}
"""Every interval the simulator can draw, by canonical name."""

REST_TYPES: tuple[str, ...] = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w", "1mon", "1y",
)  # fmt: skip
"""``type`` values ``/v3/public/klineHistory`` and ``/v3/public/kline`` accept (woox-api.md §4)."""

WS_TYPES: Mapping[str, str] = {
    **{t: t for t in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "3d")},
    "1w": "1w",
    "1M": "1mon",
}
"""WebSocket kline spelling -> canonical interval name (``1M`` is the REST ``1mon`` candle)."""


def interval(name: str) -> Interval:
    """Canonical interval for a REST spelling, ``3d``, or the WebSocket ``1M``."""
    canonical = WS_TYPES.get(name, name)
    try:
        return INTERVALS[canonical]
    except KeyError:
        known = ", ".join(INTERVALS)
        raise ValueError(f"unknown candle type {name!r}; known: {known} (and 1M)") from None
