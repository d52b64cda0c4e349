"""Topic strings -> feeds: which topics the simulated exchange serves, and which it refuses.

A refused topic is simply not acked (WOO X answers ``success: true`` with the accepted topics
only): an unknown symbol, a channel that does not exist for the market kind (``markprice``,
``estfundingrate``, ``openinterest`` on a spot symbol; ``indexprice`` on a perpetual, whose index
WOO X publishes under ``SPOT_``), a book depth other than 50, 200, 500, a kline type the
WebSocket does not offer, or a topic name it does not know.
"""

from __future__ import annotations

from collections.abc import Callable

from . import frames
from .bookfeeds import BboFeed, BookFeed, Top10Feed
from .booktape import PERIODS
from .feeds import (
    Feed,
    FundingFeed,
    KlineFeed,
    OpenInterestFeed,
    TradeFeed,
    price_feed,
    ticker_feed,
)
from .models import Models
from .rolling import DayStats

Warm = Callable[[DayStats, int], None]


def open_feed(models: Models, warm: Warm, topic: str, now_ms: int) -> Feed | None:
    """The feed serving ``topic`` from ``now_ms`` on, or None if the exchange refuses it."""
    parts = topic.split("@")
    name = parts[0]
    if name == "kline":
        kline = frames.parse_topic(models.market, topic)
        return None if kline is None else KlineFeed(kline, now_ms)
    if len(parts) == 3 and name in ("orderbookupdate", "orderbookupdaterpi"):
        depth = int(parts[2]) if parts[2] in ("50", "200", "500") else 0
        if depth == 0 or parts[1] not in models.market.listings:
            return None
        book = models.book(parts[1])
        return BookFeed(topic, book, name.endswith("rpi"), depth, PERIODS[depth], now_ms)
    if len(parts) != 2:
        return None
    symbol = parts[1]
    if name == "indexprice":
        index = models.index(symbol)
        return None if index is None else price_feed(topic, symbol, index.price, "index_price")
    if symbol not in models.market.listings:
        return None
    if name == "trade":
        return TradeFeed(topic, models.tape(symbol), now_ms)
    if name in ("bbo", "bborpi"):
        return BboFeed(topic, models.book(symbol), name == "bborpi", now_ms)
    if name == "orderbook10":
        return Top10Feed(topic, models.book(symbol), now_ms)
    if name == "ticker":
        return ticker_feed(topic, models.day(symbol), warm)
    perp = models.perp(symbol)
    if perp is None:
        return None
    if name == "markprice":
        return price_feed(topic, symbol, perp.mark_price, "mark_price")
    if name == "estfundingrate":
        return FundingFeed(topic, perp, now_ms)
    if name == "openinterest":
        return OpenInterestFeed(topic, perp, now_ms)
    return None
