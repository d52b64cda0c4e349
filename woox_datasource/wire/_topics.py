"""WOO X v3 topic strings for every channel, and which markets each channel exists for.

A topic is ``name@SYMBOL`` or ``name@SYMBOL@arg``. The connection layer routes a push by its
topic alone: :func:`split_topic` reads the name, and :data:`CHANNEL_OF_TOPIC` says which channel
owns that name, so routing never looks inside a payload.
"""

from __future__ import annotations

from typing import Final

from host_stub.spec import (
    BOOK_DEPTHS,
    BOOK_TOP_DEPTH,
    Channel,
    ChannelInfo,
    InvalidRequest,
    MarketKind,
)

KLINE: Final = "kline"
TRADE: Final = "trade"
BBO: Final = "bbo"
BBO_RPI: Final = "bborpi"
TICKER: Final = "ticker"
BOOK_UPDATE: Final = "orderbookupdate"
BOOK_UPDATE_RPI: Final = "orderbookupdaterpi"
BOOK_TOP10: Final = "orderbook10"
MARK_PRICE: Final = "markprice"
INDEX_PRICE: Final = "indexprice"
FUNDING: Final = "estfundingrate"
OPEN_INTEREST: Final = "openinterest"

CHANNEL_OF_TOPIC: Final[dict[str, Channel]] = {
    KLINE: Channel.CANDLES,
    TRADE: Channel.TRADES,
    BBO: Channel.BBO,
    BBO_RPI: Channel.BBO,
    TICKER: Channel.TICKER,
    BOOK_UPDATE: Channel.BOOK,
    BOOK_UPDATE_RPI: Channel.BOOK,
    BOOK_TOP10: Channel.BOOK,
    MARK_PRICE: Channel.MARK_PRICE,
    INDEX_PRICE: Channel.INDEX_PRICE,
    FUNDING: Channel.FUNDING,
    OPEN_INTEREST: Channel.OPEN_INTEREST,
}
"""Topic name -> the channel whose pushes carry it (``orderbook10`` is the top-10 snapshot
option of the book)."""

_BOTH: Final = (MarketKind.SPOT, MarketKind.PERP)
_PERP: Final = (MarketKind.PERP,)

CHANNEL_INFOS: Final[dict[Channel, ChannelInfo]] = {
    Channel.CANDLES: ChannelInfo(Channel.CANDLES, _BOTH, backfill=True),
    Channel.TRADES: ChannelInfo(Channel.TRADES, _BOTH, backfill=True),
    Channel.BBO: ChannelInfo(Channel.BBO, _BOTH, rpi=True),
    Channel.TICKER: ChannelInfo(Channel.TICKER, _BOTH),
    # depth 10 is orderbook10 (pushed top-10 snapshots, RPI orders included: rpi=True only)
    Channel.BOOK: ChannelInfo(Channel.BOOK, _BOTH, depths=(*BOOK_DEPTHS, BOOK_TOP_DEPTH), rpi=True),
    Channel.MARK_PRICE: ChannelInfo(Channel.MARK_PRICE, _PERP),
    # WOO X publishes the index of PERP_X_Y under SPOT_X_Y: asked with either, mapped.
    Channel.INDEX_PRICE: ChannelInfo(Channel.INDEX_PRICE, _BOTH),
    Channel.FUNDING: ChannelInfo(Channel.FUNDING, _PERP),
    Channel.OPEN_INTEREST: ChannelInfo(Channel.OPEN_INTEREST, _PERP),
}
"""What WOO X offers per channel (v3 docs and the live probe, ../shared/woox-api-streams.md)."""


def split_topic(topic: str) -> tuple[str, str, str | None] | None:
    """(name, symbol, arg or None) of ``name@SYMBOL[@arg]``, or None if it has another shape."""
    parts = topic.split("@")
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1], None
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    return None


def kline_topic(symbol: str, ws_type: str) -> str:
    """``kline@SPOT_BTC_USDT@1m`` (not the v2 ``SPOT_BTC_USDT@kline_1m``)."""
    return f"{KLINE}@{symbol}@{ws_type}"


def trade_topic(symbol: str) -> str:
    return f"{TRADE}@{symbol}"


def bbo_topic(symbol: str, *, rpi: bool = False) -> str:
    """``bbo@SYM``, or ``bborpi@SYM`` for the book including RPI orders."""
    return f"{BBO_RPI if rpi else BBO}@{symbol}"


def ticker_topic(symbol: str) -> str:
    return f"{TICKER}@{symbol}"


def book_topic(symbol: str, depth: int, *, rpi: bool = False) -> str:
    """``orderbookupdate@SYM@50`` (deltas; ``orderbookupdaterpi`` with RPI orders). WOO X
    refuses other depths silently (an empty ack), so they are refused here, loudly."""
    if depth not in BOOK_DEPTHS:
        raise InvalidRequest(
            f"book depth {depth!r} does not exist at WOO X: {', '.join(map(str, BOOK_DEPTHS))}"
        )
    return f"{BOOK_UPDATE_RPI if rpi else BOOK_UPDATE}@{symbol}@{depth}"


def book10_topic(symbol: str) -> str:
    """``orderbook10@SYM``: a 10-level snapshot every 200 ms (RPI orders apparently included)."""
    return f"{BOOK_TOP10}@{symbol}"


def mark_price_topic(symbol: str) -> str:
    return f"{MARK_PRICE}@{symbol}"


def index_symbol(symbol: str) -> str:
    """The symbol WOO X publishes an index under: ``PERP_X_Y`` -> ``SPOT_X_Y``."""
    return "SPOT_" + symbol[5:] if symbol.startswith("PERP_") else symbol


def perp_symbol(symbol: str) -> str:
    """The perpetual of a spot symbol's market: ``SPOT_X_Y`` -> ``PERP_X_Y`` (which may not be
    listed); a perpetual is itself."""
    return "PERP_" + symbol[5:] if symbol.startswith("SPOT_") else symbol


def index_price_topic(symbol: str) -> str:
    """``indexprice@SPOT_X_Y``, also for ``PERP_X_Y`` (WOO X refuses the PERP_ form)."""
    return f"{INDEX_PRICE}@{index_symbol(symbol)}"


def funding_topic(symbol: str) -> str:
    return f"{FUNDING}@{symbol}"


def open_interest_topic(symbol: str) -> str:
    return f"{OPEN_INTEREST}@{symbol}"
