"""What one subscribed topic sends on one connection, and when.

A feed is pulled by its connection's pusher: ``next_due`` is the market instant at which it will
next have a frame, and ``pull(now)`` returns every frame due up to ``now`` (advancing the feed).
The pusher sleeps until the earliest ``next_due`` of its feeds, so an idle topic costs nothing
between its pushes and nothing is computed for topics nobody subscribed: at the size of the whole
venue (313 symbols on 14 timeframes) the simulator wakes once per market second per connection.
"""

from __future__ import annotations

from . import frames
from .frames import KlineTopic
from .market import CandleUnits

NEVER = 1 << 62
"""``next_due`` of a feed with nothing scheduled (far beyond any market time)."""

MAX_FINALS_PER_PULL = 500
"""Finals owed beyond this (a clock at thousands x) go out on the next pull, still in order."""


class Feed:
    """One topic on one connection. ``topic`` is what the feed serves (for klines a
    :class:`KlineTopic`); ``name`` the topic string acked to the client."""

    name: str
    next_due: int
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
