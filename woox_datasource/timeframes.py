"""The one table of timeframes WOO X serves, and the calendar arithmetic of their open times.

WOO X spells the same timeframe differently on REST and on the WebSocket (``1mon`` vs ``1M``),
serves ``3d`` only live and ``1y`` only as history. Everything that maps an interval in seconds
to an exchange spelling, or decides where a candle opens, goes through this module so the two
transports can never disagree.

Alignment (what :func:`floor_open` assumes):

* minutes, hours and ``1d``: epoch-aligned multiples of the interval (UTC), as on every exchange.
* ``1M`` / ``1mon``: UTC calendar month starts; ``1y``: UTC calendar year starts. These are *not*
  fixed-length steps, which is why the contract's 2592000 and 31536000 are names, not durations.
* ``1w``: WOO X does not document the anchor. We assume ISO weeks (Monday 00:00 UTC), the
  convention of every major exchange. ``3d``: assumed epoch-aligned (1970-01-01 + k*3d).
  Both are flagged ``anchor_assumed``; history paging (rest.py) never trusts these two anchors to
  decide which rows exist: it keeps whatever the exchange returns inside the requested range, so a
  differently anchored exchange loses no candle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from host_stub.spec import InvalidRequest, TimeframeInfo

__all__ = [
    "BY_INTERVAL",
    "BY_REST_TYPE",
    "BY_WS_TYPE",
    "TIMEFRAMES",
    "Timeframe",
    "ceil_open",
    "count_opens",
    "floor_open",
    "for_history",
    "for_live",
    "next_open",
    "nth_open",
    "opens",
    "parse_interval",
    "timeframe_infos",
]

MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_ANCHOR_MS = 4 * DAY_MS
"""1970-01-05, the first Monday after the epoch (1970-01-01 was a Thursday)."""


@attrs.frozen
class Timeframe:
    """One timeframe: its interval in seconds, its human label and its WOO X spellings.

    ``months`` is non-zero for the calendar timeframes (1 for the month, 12 for the year), whose
    candles are not fixed-length. ``anchor_ms`` is where the fixed-length grid starts."""

    interval: int
    label: str
    rest_type: str | None
    ws_type: str | None
    months: int = attrs.field(default=0, kw_only=True)
    anchor_ms: int = attrs.field(default=0, kw_only=True)
    anchor_assumed: bool = attrs.field(default=False, kw_only=True)
    """True where WOO X does not document the alignment and ``anchor_ms`` is our assumption."""

    @property
    def history(self) -> bool:
        """Served by REST ``klineHistory``."""
        return self.rest_type is not None

    @property
    def live(self) -> bool:
        """Served by the WebSocket ``kline`` topic."""
        return self.ws_type is not None

    @property
    def step_ms(self) -> int:
        """Nominal length in ms (exact for fixed timeframes; 30/365 days for month/year)."""
        return self.interval * 1000


TIMEFRAMES: tuple[Timeframe, ...] = (
    Timeframe(60, "1m", "1m", "1m"),
    Timeframe(180, "3m", "3m", "3m"),
    Timeframe(300, "5m", "5m", "5m"),
    Timeframe(900, "15m", "15m", "15m"),
    Timeframe(1800, "30m", "30m", "30m"),
    Timeframe(3600, "1h", "1h", "1h"),
    Timeframe(7200, "2h", "2h", "2h"),
    Timeframe(14400, "4h", "4h", "4h"),
    Timeframe(21600, "6h", "6h", "6h"),
    Timeframe(43200, "12h", "12h", "12h"),
    Timeframe(86400, "1d", "1d", "1d"),
    Timeframe(259200, "3d", None, "3d", anchor_assumed=True),
    Timeframe(604800, "1w", "1w", "1w", anchor_ms=WEEK_ANCHOR_MS, anchor_assumed=True),
    Timeframe(2592000, "1M", "1mon", "1M", months=1),
    Timeframe(31536000, "1y", "1y", None, months=12),
)

BY_INTERVAL: Mapping[int, Timeframe] = {tf.interval: tf for tf in TIMEFRAMES}
BY_REST_TYPE: Mapping[str, Timeframe] = {tf.rest_type: tf for tf in TIMEFRAMES if tf.rest_type}
BY_WS_TYPE: Mapping[str, Timeframe] = {tf.ws_type: tf for tf in TIMEFRAMES if tf.ws_type}

_EXACT: dict[str, Timeframe] = {}
for _t in TIMEFRAMES:
    for _name in (_t.label, _t.rest_type, _t.ws_type, str(_t.interval)):
        if _name is not None:
            _EXACT[_name] = _t
# Case-insensitive fallback, except where case is the only thing telling minutes from months.
_FOLDED: dict[str, Timeframe] = {k.lower(): v for k, v in _EXACT.items() if not k.endswith("M")}


def _supported(tfs: tuple[Timeframe, ...] = TIMEFRAMES) -> str:
    return ", ".join(f"{tf.interval} ({tf.label})" for tf in tfs)


def parse_interval(value: int | str | None) -> Timeframe:
    """Resolve seconds (``3600``, ``"3600"``) or a spelling (``1h``, ``1M``, ``1mon``, ``1y``).

    ``1m`` is a minute and ``1M`` a month; other labels are accepted in any case (``1H``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f"interval must be seconds or a label like '1h', got {value!r}")
    if isinstance(value, int):
        found = BY_INTERVAL.get(value)
    else:
        text = value.strip()
        found = _EXACT.get(text)
        if found is None and not text.lower().endswith("m"):
            found = _FOLDED.get(text.lower())
    if found is None:
        hint = ""
        if isinstance(value, str) and value.strip().lower().endswith("m"):
            hint = " ('m' is minutes and 'M' is months; case matters there)"
        raise InvalidRequest(
            f"unsupported interval {value!r}{hint}; WOO X supports: {_supported()}"
        )
    return found


def for_history(interval: int | str) -> Timeframe:
    """The timeframe for REST history, or :class:`InvalidRequest` if WOO X serves it live only."""
    return _served(interval, "history", "available live only, not as history")


def for_live(interval: int | str | None) -> Timeframe:
    """The timeframe for the WebSocket, or :class:`InvalidRequest` if WOO X has no live feed."""
    return _served(interval, "live", "available as history only, not live")


def _served(interval: int | str | None, feed: str, refusal: str) -> Timeframe:
    tf = parse_interval(interval)
    if not getattr(tf, feed):
        offered = tuple(t for t in TIMEFRAMES if getattr(t, feed))
        raise InvalidRequest(
            f"interval {tf.interval} ({tf.label}) is {refusal}; "
            f"{feed} intervals: {_supported(offered)}"
        )
    return tf


def timeframe_infos() -> tuple[TimeframeInfo, ...]:
    """The contract's per-timeframe table (for ``datasource_info``)."""
    return tuple(TimeframeInfo(tf.interval, tf.label, tf.history, tf.live) for tf in TIMEFRAMES)


# ---- calendar arithmetic (proleptic Gregorian, UTC; H. Hinnant's days<->civil algorithms) ----


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int]:
    """(year, month) of day number ``z`` since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m


def _index(tf: Timeframe, t_ms: int) -> int:
    """Number of the candle containing ``t_ms`` (months since year 0 for calendar timeframes)."""
    if tf.months:
        y, m = _civil_from_days(t_ms // DAY_MS)
        return (y * 12 + m - 1) // tf.months
    return (t_ms - tf.anchor_ms) // tf.step_ms


def _open_at(tf: Timeframe, index: int) -> int:
    if tf.months:
        month = index * tf.months
        return _days_from_civil(month // 12, month % 12 + 1, 1) * DAY_MS
    return tf.anchor_ms + index * tf.step_ms


def _ceil_index(tf: Timeframe, t_ms: int) -> int:
    i = _index(tf, t_ms)
    return i if _open_at(tf, i) == t_ms else i + 1


def floor_open(tf: Timeframe, t_ms: int) -> int:
    """Open time of the candle containing ``t_ms``."""
    return _open_at(tf, _index(tf, t_ms))


def ceil_open(tf: Timeframe, t_ms: int) -> int:
    """The first open time at or after ``t_ms``."""
    return _open_at(tf, _ceil_index(tf, t_ms))


def next_open(tf: Timeframe, open_ms: int) -> int:
    """Open time of the candle after the one containing ``open_ms`` (calendar-true for 1M/1y)."""
    return _open_at(tf, _index(tf, open_ms) + 1)


def opens(tf: Timeframe, start_ms: int, end_ms: int) -> Iterator[int]:
    """Candle open times in ``[start_ms, end_ms)``, lazily (a year of minutes is 525,600)."""
    for i in range(_ceil_index(tf, start_ms), _ceil_index(tf, end_ms)):
        yield _open_at(tf, i)


def count_opens(tf: Timeframe, start_ms: int, end_ms: int) -> int:
    """How many candles open in ``[start_ms, end_ms)``; O(1)."""
    return max(0, _ceil_index(tf, end_ms) - _ceil_index(tf, start_ms))


def nth_open(tf: Timeframe, start_ms: int, n: int) -> int:
    """The open time ``n`` candles after the first open at or after ``start_ms`` (O(1))."""
    return _open_at(tf, _ceil_index(tf, start_ms) + n)
