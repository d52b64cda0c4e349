"""The tape: every trade of a symbol, in time order, read by minute from the closed-form plans.

Reading the tape expands only the minutes asked for (a push per trade, a REST page, a truth
query), keeping the few most recent expansions, so a subscribed ``trade`` topic costs one
expansion per minute and the WebSocket pusher sleeps until the next trade's time.
"""

from __future__ import annotations

import collections

import attrs

from .market import CandleModel
from .minutes import MINUTE_MS, RawTrade, trades
from .units import fmt_decimal

_CACHED_MINUTES = 8
SCAN_LIMIT_MINUTES = 7 * 24 * 60
"""How far a search for the next or previous trade looks (quiet runs are minutes long at most;
the limit only matters before a listing)."""


@attrs.frozen
class SimTrade:
    """One trade as the simulated exchange reports it (decimal strings as on the wire)."""

    symbol: str
    time: int
    price: str
    size: str
    side: str
    """Taker side: ``BUY`` or ``SELL``."""
    source: int
    """1: WOO X's own trade; 0: aggregated from other venues."""
    rpi: bool


class Tape:
    """The trades of one symbol from its listing minute on."""

    def __init__(self, model: CandleModel, first_minute: int) -> None:
        self.model = model
        self.symbol = model.symbol
        self.first_minute = first_minute
        self._minutes: collections.OrderedDict[int, list[RawTrade]] = collections.OrderedDict()

    def minute(self, m: int) -> list[RawTrade]:
        """The trades of minute ``m`` (none before the listing)."""
        got = self._minutes.get(m)
        if got is not None:
            self._minutes.move_to_end(m)
            return got
        got = [] if m < self.first_minute else trades(self.model.minute_plan(m))
        self._minutes[m] = got
        if len(self._minutes) > _CACHED_MINUTES:
            self._minutes.popitem(last=False)
        return got

    def between(self, start_ms: int, end_ms: int) -> list[RawTrade]:
        """Trades with ``start_ms <= time < end_ms``, oldest first."""
        out: list[RawTrade] = []
        for m in range(max(start_ms // MINUTE_MS, self.first_minute), -(-end_ms // MINUTE_MS)):
            out.extend(t for t in self.minute(m) if start_ms <= t.time < end_ms)
        return out

    def latest(self, at_ms: int, limit: int) -> list[RawTrade]:
        """The ``limit`` newest trades with ``time <= at_ms``, newest first."""
        out: list[RawTrade] = []
        m = at_ms // MINUTE_MS
        floor = max(self.first_minute, m - SCAN_LIMIT_MINUTES)
        while len(out) < limit and m >= floor:
            out.extend(t for t in reversed(self.minute(m)) if t.time <= at_ms)
            m -= 1
        return out[:limit]

    def next_time(self, after_ms: int) -> int | None:
        """Time of the first trade strictly after ``after_ms`` (None if none within the scan
        limit)."""
        first = max(after_ms // MINUTE_MS, self.first_minute)
        for m in range(first, first + SCAN_LIMIT_MINUTES):
            for t in self.minute(m):
                if t.time > after_ms:
                    return t.time
        return None

    def record(self, t: RawTrade) -> SimTrade:
        p = self.model.profile
        return SimTrade(
            self.symbol,
            t.time,
            fmt_decimal(t.price, p.price_dp),
            fmt_decimal(t.size, p.volume_dp),
            "BUY" if t.is_buy else "SELL",
            t.src,
            t.rpi,
        )

    def push(self, topic: str, t: RawTrade, send_ms: int) -> str:
        """A ``trade@SYMBOL`` push (woox-api-streams.md §1.6)."""
        p = self.model.profile
        return (
            f'{{"topic":"{topic}","ts":{send_ms},"data":{{"s":"{self.symbol}",'
            f'"px":"{fmt_decimal(t.price, p.price_dp)}","sx":"{fmt_decimal(t.size, p.volume_dp)}",'
            f'"sd":"{"BUY" if t.is_buy else "SELL"}","src":{t.src},'
            f'"rpi":{"true" if t.rpi else "false"},"ts":{t.time}}}}}'
        )

    def rest_row(self, t: RawTrade) -> str:
        """A ``marketTrades`` / ``marketTradesHistory`` row (woox-api-streams.md §3)."""
        p = self.model.profile
        return (
            f'{{"symbol":"{self.symbol}","side":"{"BUY" if t.is_buy else "SELL"}",'
            f'"source":{t.src},"executedPrice":"{fmt_decimal(t.price, p.price_dp)}",'
            f'"executedQuantity":"{fmt_decimal(t.size, p.volume_dp)}",'
            f'"executedTimestamp":{t.time}}}'
        )
