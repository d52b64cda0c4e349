"""Push payloads of every channel but candles: one typed shape each, decoded in C by msgspec.

A channel calls its decoder with the :class:`Push` the connection routed to it by topic (see
:data:`DECODERS`); the decoder reads ``data`` straight into its shape (numeric strings into
``Decimal``), checks what must hold (the symbol is the topic's, numbers finite, prices and sizes
not negative) and returns the contract's record, or :class:`BookUpdate` where the contract has
none (a delta's ``prevTs``). Anything else is a :class:`MalformedFrame` naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

import msgspec

from host_stub.spec import (
    BOOK_DEPTHS,
    BookEvent,
    Channel,
    FundingEvent,
    Level,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    Side,
    TickerEvent,
    Trade,
)
from woox_datasource.wire import _topics as t
from woox_datasource.wire._ws import MalformedFrame, Push, decode_kline

_ZERO: Final = Decimal(0)
_INF: Final = Decimal("Infinity")


class _Payload(msgspec.Struct, frozen=True, gc=False):
    """What every payload carries: the symbol and the exchange's time (ms)."""

    s: str
    ts: int


_S = TypeVar("_S", bound=_Payload)


def _decode(decoder: msgspec.json.Decoder[_S], push: Push, names: tuple[str, ...]
            ) -> tuple[_S, str, str | None]:  # fmt: skip
    """(payload, topic symbol, topic arg) of a push whose topic is one of ``names``."""
    parts = t.split_topic(push.topic)
    if parts is None or parts[0] not in names:
        raise MalformedFrame(f"topic {push.topic!r} is not {' or '.join(names)}@SYMBOL", push.data)
    try:
        data = decoder.decode(push.data)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"{parts[0]} push: {exc}", push.data) from None
    if data.s != parts[1]:
        raise MalformedFrame(
            f"{parts[0]} push data is for {data.s!r}, not its topic's {parts[1]!r}", push.data
        )
    return data, parts[1], parts[2]


def _amount(value: Decimal, name: str, push: Push) -> Decimal:
    """``value`` if finite and not negative, else a MalformedFrame naming ``name``."""
    try:
        if _ZERO <= value < _INF:
            return value
    except ArithmeticError:  # NaN
        pass
    raise MalformedFrame(f"{name} {value} is not a finite non-negative number", push.data)


def _amounts(push: Push, **values: Decimal) -> None:
    """All finite and not negative (min/max in C: a NaN makes them raise), else the first bad
    one named."""
    try:
        if min(values.values()) >= _ZERO and max(values.values()) < _INF:
            return
    except ArithmeticError:
        pass
    for name, value in values.items():
        _amount(value, name, push)


# ---- trades -------------------------------------------------------------------------------------


class _TradeData(_Payload, frozen=True, gc=False):
    px: Decimal
    sx: Decimal
    sd: Literal["BUY", "SELL"]
    src: int = 1  # (UNCERTAIN whether always present; absent: the exchange's own)
    rpi: bool = False


_TRADE: Final = msgspec.json.Decoder(_TradeData)
_SIDES: Final = {"BUY": Side.BUY, "SELL": Side.SELL}


def decode_trade(push: Push) -> Trade:
    """``trade@SYM``: one trade. ``sd`` is the taker side; ``src`` 0 marks a trade WOO X
    aggregates from other venues (``Trade.external``)."""
    d, symbol, _ = _decode(_TRADE, push, (t.TRADE,))
    _amounts(push, price=d.px, size=d.sx)
    return Trade(symbol, d.ts, d.px, d.sx, _SIDES[d.sd], d.src == 0)


# ---- best bid and offer -------------------------------------------------------------------------


class _BboData(_Payload, frozen=True, gc=False):
    bp: Decimal | None = None
    bq: Decimal | None = None
    ap: Decimal | None = None
    aq: Decimal | None = None


class _LooseBbo(_Payload, frozen=True, gc=False):
    """What an empty side might look like (UNCERTAIN, never observed): ``""`` or null."""

    bp: str | None = None
    bq: str | None = None
    ap: str | None = None
    aq: str | None = None


_BBO: Final = msgspec.json.Decoder(_BboData)
_LOOSE_BBO: Final = msgspec.json.Decoder(_LooseBbo)


def _side(price: Decimal | str | None, size: Decimal | str | None, name: str, push: Push
          ) -> tuple[Decimal | None, Decimal | None]:  # fmt: skip
    """An empty side (price missing, null, "" or 0) is (None, None); else both numbers."""
    if price is None or price == "":
        return None, None
    try:
        p, q = Decimal(price), Decimal(size) if size is not None and size != "" else None
    except ArithmeticError:  # Decimal("garbage")
        raise MalformedFrame(f"{name} is not a number: {price!r} / {size!r}", push.data) from None
    if p == 0:
        return None, None
    if q is None:
        raise MalformedFrame(f"{name} price {price} comes without a size", push.data)
    return _amount(p, f"{name} price", push), _amount(q, f"{name} size", push)


def decode_bbo(push: Push) -> QuoteEvent:
    """``bbo@SYM`` / ``bborpi@SYM``: best bid and offer; an empty side is None."""
    names = (t.BBO, t.BBO_RPI)
    try:
        d, symbol, _ = _decode(_BBO, push, names)
        if d.bp and d.ap and d.bq is not None and d.aq is not None:  # both sides quoted
            _amounts(push, **{"bid price": d.bp, "bid size": d.bq, "ask price": d.ap,
                              "ask size": d.aq})  # fmt: skip
            return QuoteEvent(symbol, d.ts, d.bp, d.bq, d.ap, d.aq)
    except MalformedFrame:
        loose, symbol, _ = _decode(_LOOSE_BBO, push, names)  # (still failing: that error stands)
        return _quote(symbol, loose, push)
    return _quote(symbol, d, push)


def _quote(symbol: str, d: _BboData | _LooseBbo, push: Push) -> QuoteEvent:
    bid = _side(d.bp, d.bq, "bid", push)
    ask = _side(d.ap, d.aq, "ask", push)
    return QuoteEvent(symbol, d.ts, bid[0], bid[1], ask[0], ask[1])


# ---- ticker, mark and index price, funding, open interest --------------------------------------


class _TickerData(_Payload, frozen=True, gc=False):
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 (WOO X's spelling)
    c: Decimal
    v: Decimal
    a: Decimal
    cnt: int


_TICKER: Final = msgspec.json.Decoder(_TickerData)


def decode_ticker(push: Push) -> TickerEvent:
    """``ticker@SYM``: rolling 24 h; ``v`` base volume, ``a`` quote amount, ``cnt`` trades
    (``q``/``u``, "aggregated" volume and amount, are UNCERTAIN in meaning and not used)."""
    d, symbol, _ = _decode(_TICKER, push, (t.TICKER,))
    _amounts(push, open=d.o, high=d.h, low=d.l, close=d.c, volume=d.v, amount=d.a)
    if d.cnt < 0:
        raise MalformedFrame(f"ticker trade count {d.cnt} is negative", push.data)
    return TickerEvent(symbol, d.ts, d.o, d.h, d.l, d.c, d.v, d.a, d.cnt)


class _PriceData(_Payload, frozen=True, gc=False):
    px: Decimal


_PRICE: Final = msgspec.json.Decoder(_PriceData)
_PRICE_CHANNEL: Final = {t.MARK_PRICE: Channel.MARK_PRICE, t.INDEX_PRICE: Channel.INDEX_PRICE}


def decode_price(push: Push) -> PriceEvent:
    """``markprice@PERP`` or ``indexprice@SPOT``: ``symbol`` is the one WOO X published (the
    index under ``SPOT_``; a stream asked with the perp maps it back)."""
    d, symbol, _ = _decode(_PRICE, push, (t.MARK_PRICE, t.INDEX_PRICE))
    channel = _PRICE_CHANNEL[push.topic.partition("@")[0]]
    _amounts(push, price=d.px)
    return PriceEvent(channel, symbol, d.ts, d.px)


class _FundingData(_Payload, frozen=True, gc=False):
    r: Decimal
    ft: int


_FUNDING: Final = msgspec.json.Decoder(_FundingData)


def decode_funding(push: Push) -> FundingEvent:
    """``estfundingrate@PERP``: the estimated rate (may be negative) of the next settlement."""
    d, symbol, _ = _decode(_FUNDING, push, (t.FUNDING,))
    try:
        finite = -_INF < d.r < _INF
    except ArithmeticError:
        finite = False
    if not finite:
        raise MalformedFrame(f"funding rate {d.r} is not a finite number", push.data)
    return FundingEvent(symbol, d.ts, d.r, d.ft)


class _OpenInterestData(_Payload, frozen=True, gc=False):
    oi: Decimal


_OPEN_INTEREST: Final = msgspec.json.Decoder(_OpenInterestData)


def decode_open_interest(push: Push) -> OpenInterestEvent:
    """``openinterest@PERP`` (unit: the base coin, UNCERTAIN)."""
    d, symbol, _ = _decode(_OPEN_INTEREST, push, (t.OPEN_INTEREST,))
    _amounts(push, **{"open interest": d.oi})
    return OpenInterestEvent(symbol, d.ts, d.oi)


# ---- order book ---------------------------------------------------------------------------------


class BookUpdate(msgspec.Struct, frozen=True, gc=False):
    """One ``orderbookupdate`` delta: apply it only if ``prev_ts`` is the ``ts`` of the last one
    applied (or of the REST snapshot). ``rpi`` says which book (never mix the two)."""

    symbol: str
    depth: int
    rpi: bool
    prev_ts: int
    ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class _BookData(_Payload, frozen=True, gc=False):
    prevTs: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class _Top10Data(_Payload, frozen=True, gc=False):
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


_BOOK: Final = msgspec.json.Decoder(_BookData)
_TOP10: Final = msgspec.json.Decoder(_Top10Data)


def check_levels(levels: tuple[Level, ...], side: str) -> str | None:
    """None if every (price, size) is finite and not negative, else what is wrong."""
    if not levels:
        return None
    try:
        prices, sizes = zip(*levels, strict=True)
        if (
            min(prices) >= _ZERO
            and max(prices) < _INF
            and min(sizes) >= _ZERO
            and (max(sizes) < _INF)
        ):
            return None
    except ArithmeticError:
        pass
    bad = next(lv for lv in levels if not (lv[0].is_finite() and lv[1].is_finite()
                                           and lv[0] >= 0 and lv[1] >= 0))  # fmt: skip
    return f"{side} level [{bad[0]}, {bad[1]}] is not two finite non-negative numbers"


def decode_book_update(push: Push) -> BookUpdate:
    """``orderbookupdate@SYM@DEPTH`` / ``orderbookupdaterpi@SYM@DEPTH``: a delta; each size is
    the level's new absolute size, 0 deleting it."""
    d, symbol, arg = _decode(_BOOK, push, (t.BOOK_UPDATE, t.BOOK_UPDATE_RPI))
    depth = int(arg) if arg is not None and arg.isdigit() else None
    if depth not in BOOK_DEPTHS:
        raise MalformedFrame(f"book topic {push.topic!r} has no depth of 50, 200 or 500", push.data)
    problem = check_levels(d.bids, "bid") or check_levels(d.asks, "ask")
    if problem:
        raise MalformedFrame(problem, push.data)
    rpi = push.topic.startswith(t.BOOK_UPDATE_RPI + "@")
    return BookUpdate(symbol, depth, rpi, d.prevTs, d.ts, d.bids, d.asks)


TOP10_DEPTH: Final = 10


def decode_book_top10(push: Push) -> BookEvent:
    """``orderbook10@SYM``: the whole top-10 book (apparently with RPI orders), a snapshot."""
    d, symbol, _ = _decode(_TOP10, push, (t.BOOK_TOP10,))
    problem = check_levels(d.bids, "bid") or check_levels(d.asks, "ask")
    if problem:
        raise MalformedFrame(problem, push.data)
    return BookEvent(symbol, TOP10_DEPTH, d.ts, True, d.bids, d.asks)


DECODERS: Final[dict[str, Callable[[Push], Any]]] = {
    t.KLINE: decode_kline,
    t.TRADE: decode_trade,
    t.BBO: decode_bbo,
    t.BBO_RPI: decode_bbo,
    t.TICKER: decode_ticker,
    t.MARK_PRICE: decode_price,
    t.INDEX_PRICE: decode_price,
    t.FUNDING: decode_funding,
    t.OPEN_INTEREST: decode_open_interest,
    t.BOOK_UPDATE: decode_book_update,
    t.BOOK_UPDATE_RPI: decode_book_update,
    t.BOOK_TOP10: decode_book_top10,
}
"""Topic name -> its payload decoder: how a channel reads the pushes routed to it."""
