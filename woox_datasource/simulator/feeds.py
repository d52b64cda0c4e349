"""What one subscribed topic sends on one connection, and when.

A feed is pulled by its connection's pusher: ``next_due`` is the market instant at which it will
next have a frame, and ``pull(now)`` returns every frame due up to ``now`` (advancing the feed).
The pusher sleeps until the earliest ``next_due`` of its feeds, so an idle topic costs nothing
between its pushes and nothing is computed for topics nobody subscribed: at the size of the whole
venue (313 symbols on 14 timeframes) the simulator wakes once per market second per connection.
"""

from __future__ import annotations

from collections.abc import Callable

from . import frames
from .derivs import PerpModel, funding_push, oi_push, price_push
from .frames import KlineTopic
from .minutes import MINUTE_MS
from .rolling import DayStats, ticker_push
from .trades import Tape
from .units import CandleUnits

NEVER = 1 << 62
"""``next_due`` of a feed with nothing scheduled (far beyond any market time)."""

MAX_FINALS_PER_PULL = 500
"""Finals owed beyond this (a clock at thousands x) go out on the next pull, still in order."""
MAX_TRADES_PER_PULL = 5_000
"""Trades owed beyond this go out on the next pull (whole minutes at a time), still in order."""
SECOND_MS = 1_000


class Feed:
    """One topic on one connection. ``topic`` is what the feed serves (for klines a
    :class:`KlineTopic`); ``name`` the topic string acked to the client."""

    name: str
    next_due: int
    kind: str = "kline"
    """What the feed sends (``kline``, ``trade``, ``book`` ...): faults may target one kind."""
    finals: int = 0
    """Final kline pushes made by the last :meth:`pull` (counted by the hub's statistics)."""

    def pull(self, now_ms: int) -> list[str]:
        raise NotImplementedError


class KlineFeed(Feed):
    """``kline@SYMBOL@T``: a final push for every candle that closed since the last pull (in
    order, none skipped, however fast the clock runs) and, at most once per market second, the
    forming candle's provisional state (none while it has no trade)."""

    def __init__(self, topic: KlineTopic, now_ms: int) -> None:
        iv = topic.interval
        self.topic = topic
        self.name = topic.topic
        self.first = topic.listing.first_index(iv)
        self.next_final = max(iv.index_of(now_ms), self.first)
        """Index of the oldest candle whose final push is still owed."""
        self.last_second = -1
        """Market second of the last provisional push."""
        self.next_due = now_ms
        self._index = -1
        self._end_ms = -1
        self._units: CandleUnits | None = None

    def _forming(self, now_ms: int) -> tuple[int, CandleUnits]:
        """The index and final state of the candle forming at ``now_ms``, computed once per
        candle (a provisional state is cheap arithmetic on it)."""
        if self._units is None or not self._units.start_ms <= now_ms < self._end_ms:
            iv = self.topic.interval
            self._index = iv.index_of(now_ms)
            self._units = self.topic.listing.model.units(iv, self._index)
            self._end_ms = self._units.end_ms
        return self._index, self._units

    def pull(self, now_ms: int) -> list[str]:
        topic = self.topic
        iv, model = topic.interval, topic.listing.model
        current, units = self._forming(now_ms)
        out: list[str] = []
        self.finals = 0
        self.next_due = (now_ms // 1000 + 1) * 1000
        if self.next_final < current:
            lo = max(self.next_final, self.first)
            hi = min(current - 1, lo + MAX_FINALS_PER_PULL - 1)
            self.next_final = hi + 1 if lo <= hi else current
            for closed in model.units_range(iv, lo, hi) if lo <= hi else ():
                out.append(frames.final_push(topic, closed, now_ms))
            self.finals = len(out)
            if self.next_final < current:
                self.next_due = now_ms  # more finals owed: come back right away
                return out
        second = now_ms // 1000
        if current < self.first or second == self.last_second:
            return out
        self.last_second = second
        if units.is_zero or now_ms <= units.start_ms:
            return out  # no trade yet: WOO X pushes only when there is something new
        out.append(frames.provisional_push(topic, units, now_ms))
        return out


class TradeFeed(Feed):
    """``trade@SYMBOL``: every trade, one push each, once the clock passes its time (trades at
    or before the subscription instant are history)."""

    kind = "trade"

    def __init__(self, name: str, tape: Tape, now_ms: int) -> None:
        self.name = name
        self.tape = tape
        self.sent_to = now_ms
        """Every trade up to this time (inclusive) has been sent or was history."""
        self.next_due = self._next()

    def _next(self) -> int:
        found = self.tape.next_time(self.sent_to)
        return NEVER if found is None else found

    def pull(self, now_ms: int) -> list[str]:
        out: list[str] = []
        m = (self.sent_to + 1) // MINUTE_MS
        while self.sent_to < now_ms and len(out) < MAX_TRADES_PER_PULL:
            end = min(now_ms, (m + 1) * MINUTE_MS - 1)
            for t in self.tape.minute(m):
                if self.sent_to < t.time <= end:
                    out.append(self.tape.push(self.name, t, now_ms))
            self.sent_to = end
            m += 1
        self.next_due = self._next()
        return out


class EverySecondFeed(Feed):
    """A value made once per market second (``ticker``, ``markprice``, ``indexprice``): the
    latest second's value at each pull, at most one push per second (a fast clock conflates)."""

    def __init__(self, name: str, kind: str, make: Callable[[int, int], str | None]) -> None:
        self.name = name
        self.kind = kind
        self._make = make
        self._last = -1
        self.next_due = -1

    def pull(self, now_ms: int) -> list[str]:
        second = now_ms // SECOND_MS * SECOND_MS
        self.next_due = second + SECOND_MS
        if second == self._last:
            return []
        text = self._make(second, now_ms)
        if text is None:  # not ready (a cold 24 h window warming up): look again next tick
            self.next_due = now_ms
            return []
        self._last = second
        return [text]


def ticker_feed(name: str, stats: DayStats, warm: Callable[[DayStats, int], None]) -> Feed:
    def make(second: int, now_ms: int) -> str | None:
        if stats.cold_hours(second):
            warm(stats, second)
            return None
        return ticker_push(name, stats.ticker(second), now_ms)

    return EverySecondFeed(name, "ticker", make)


def price_feed(name: str, symbol: str, price: Callable[[int], str], kind: str) -> Feed:
    def make(second: int, now_ms: int) -> str:
        return price_push(name, symbol, price(second), second, now_ms)

    return EverySecondFeed(name, kind, make)


class FundingFeed(Feed):
    """``estfundingrate@PERP``: the estimate at every whole market minute after subscribing."""

    kind = "funding"

    def __init__(self, name: str, perp: PerpModel, now_ms: int) -> None:
        self.name = name
        self.perp = perp
        self.next_due = (now_ms // MINUTE_MS + 1) * MINUTE_MS

    def pull(self, now_ms: int) -> list[str]:
        made = now_ms // MINUTE_MS * MINUTE_MS
        self.next_due = made + MINUTE_MS
        return [funding_push(self.name, self.perp.funding(made), now_ms)]


class OpenInterestFeed(Feed):
    """``openinterest@PERP``: on every second the value changed, and every 10 s regardless
    (with the time of its last change), from the first such second after subscribing."""

    kind = "open_interest"

    def __init__(self, name: str, perp: PerpModel, now_ms: int) -> None:
        self.name = name
        self.perp = perp
        self.next_due = self._due_after(now_ms // SECOND_MS)

    def _due_after(self, second: int) -> int:
        s = second + 1
        while not self.perp.oi_push_due(s):
            s += 1
        return s * SECOND_MS

    def pull(self, now_ms: int) -> list[str]:
        second = now_ms // SECOND_MS
        self.next_due = self._due_after(second)
        return [oi_push(self.name, self.perp.open_interest(now_ms), now_ms)]
