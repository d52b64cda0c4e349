"""REST replies beyond candles: the book snapshot, trades, perpetual stats, funding, status.

Each reply's ``data`` (a :class:`~woox_datasource.wire.Reply`'s undecoded JSON) is decoded in C
straight into one typed shape, with readable field names (the WOO X spellings live in each
Struct's ``rename``), then checked like the pushes are. A reply that does not fit is an
:class:`ExchangeError` naming the endpoint and the problem.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeVar

import msgspec

from host_stub.spec import BookEvent, ExchangeError, Level, Side, Trade
from woox_datasource.wire._channels import check_levels
from woox_datasource.wire._http import Reply

_ZERO: Final = Decimal(0)
_INF: Final = Decimal("Infinity")
_T = TypeVar("_T")


def _decode(decoder: msgspec.json.Decoder[_T], data: msgspec.Raw | bytes, what: str) -> _T:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ExchangeError(f"WOO X {what} reply is invalid: {exc}") from None


def _amounts(what: str, **values: Decimal | None) -> None:
    """Every value given (None: absent) finite and not negative, else an ExchangeError."""
    for name, value in values.items():
        try:
            if value is None or _ZERO <= value < _INF:
                continue
        except ArithmeticError:
            pass
        raise ExchangeError(f"WOO X {what} reply is invalid: {name} {value} is not a finite "
                            "non-negative number")  # fmt: skip


# ---- order book snapshot ------------------------------------------------------------------------


def orderbook_query(symbol: str, max_level: int, *, rpi: bool = False) -> dict[str, str]:
    """``/v3/public/orderbook``: ``maxLevel`` = the stream's depth (a deeper seed leaves levels
    no delta ever updates), ``rpi`` matching the stream's topic (never mix the two books)."""
    if max_level < 1:
        raise ValueError(f"maxLevel must be >= 1, got {max_level}")
    return {"symbol": symbol, "maxLevel": str(max_level), "rpi": "true" if rpi else "false"}


class _Quantity(msgspec.Struct, frozen=True, gc=False):
    price: Decimal
    quantity: Decimal


class _Book(msgspec.Struct, frozen=True, gc=False):
    bids: list[_Quantity]
    asks: list[_Quantity]


_BOOK: Final = msgspec.json.Decoder(_Book)


def parse_orderbook(reply: Reply, symbol: str, depth: int) -> BookEvent:
    """The REST book as a snapshot :class:`BookEvent` whose ``time`` is the reply's top-level
    ``timestamp``: the book's last change, the value the deltas' ``prevTs`` refers to."""
    if reply.timestamp is None:
        raise ExchangeError("WOO X orderbook reply has no timestamp: it cannot seed a book")
    book = _decode(_BOOK, reply.data, "orderbook")
    bids: tuple[Level, ...] = tuple((q.price, q.quantity) for q in book.bids)
    asks: tuple[Level, ...] = tuple((q.price, q.quantity) for q in book.asks)
    problem = check_levels(bids, "bid") or check_levels(asks, "ask")
    if problem:
        raise ExchangeError(f"WOO X orderbook reply is invalid: {problem}")
    return BookEvent(symbol, depth, reply.timestamp, True, bids, asks)


# ---- trades -------------------------------------------------------------------------------------


def market_trades_query(symbol: str, *, limit: int) -> dict[str, str]:
    """``/v3/public/marketTrades``: the latest ``limit`` trades (default and maximum
    UNCERTAIN)."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return {"symbol": symbol, "limit": str(limit)}


def market_trades_history_query(
    symbol: str, *, start: int | None = None, end: int | None = None, limit: int | None = None
) -> dict[str, str]:
    """``/v3/public/marketTradesHistory``: the trades with ``start <= time < end``, oldest first.
    Its parameters are UNCERTAIN (the docs page was cut off): ``startTime``/``endTime`` follow
    WOO X's other v3 history endpoints. The page size may be called ``limit`` (as on
    ``marketTrades``, the endpoint for the same rows) or ``size`` (as on WOO X's paged history
    endpoints); both readings get it, under both names (a server reads the one it knows, and
    ignores the other)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    query = {"symbol": symbol}
    for key, value in (("startTime", start), ("endTime", end), ("limit", limit), ("size", limit)):
        if value is not None:
            query[key] = str(value)
    return query


class _TradeRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    symbol: str
    side: str
    executed_price: Decimal
    executed_quantity: Decimal
    executed_timestamp: int | Decimal  # v3: int ms; legacy v1: "1567411795.000" seconds
    source: int = 1


class _TradeRows(msgspec.Struct, frozen=True, gc=False):
    rows: list[_TradeRow]


_TRADES: Final = msgspec.json.Decoder(_TradeRows)


def parse_market_trades(data: msgspec.Raw | bytes, symbol: str) -> list[Trade]:
    """Trades of a ``marketTrades`` or ``marketTradesHistory`` reply, in the exchange's order
    (UNCERTAIN: sort by time). No trade id exists: de-duplicate as a multiset."""
    what = "marketTrades"
    trades = []
    for i, row in enumerate(_decode(_TRADES, data, what).rows):
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(row.side)
        if row.symbol != symbol or side is None:
            raise ExchangeError(f"WOO X {what} row {i} is invalid: symbol {row.symbol!r} (asked "
                                f"{symbol!r}), side {row.side!r}")  # fmt: skip
        _amounts(what, price=row.executed_price, quantity=row.executed_quantity)
        ts = row.executed_timestamp
        time = ts if isinstance(ts, int) else int(ts * 1000)
        trades.append(Trade(symbol, time, row.executed_price, row.executed_quantity, side,
                            row.source == 0))  # fmt: skip
    return trades


# ---- perpetual stats and funding ----------------------------------------------------------------


def symbol_query(symbol: str | None) -> dict[str, str]:
    """``futures`` and ``fundingRate``: one symbol, or every perpetual when None."""
    return {} if symbol is None else {"symbol": symbol}


class FuturesRow(msgspec.Struct, frozen=True, gc=False, rename={
    "index_price": "indexPrice", "mark_price": "markPrice", "est_funding_rate": "estFundingRate",
    "last_funding_rate": "lastFundingRate", "open_interest": "openInterest",
    "next_funding_time": "nextFundingTime", "open": "24hOpen", "high": "24hHigh",
    "low": "24hLow", "close": "24hClose", "volume": "24hVolume", "amount": "24hAmount",
}):  # fmt: skip
    """One perpetual in ``/v3/public/futures`` (``time``: the reply's timestamp). Fresh values
    for the mark, index, funding, open interest and ticker channels after a reconnect."""

    symbol: str
    mark_price: Decimal
    index_price: Decimal | None = None  # (null seen)
    est_funding_rate: Decimal | None = None
    last_funding_rate: Decimal | None = None
    open_interest: Decimal | None = None
    next_funding_time: int | None = None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Decimal | None = None
    volume: Decimal | None = None
    amount: Decimal | None = None


class _FuturesRows(msgspec.Struct, frozen=True, gc=False):
    rows: list[FuturesRow]


_FUTURES: Final = msgspec.json.Decoder(_FuturesRows)


def parse_futures(data: msgspec.Raw | bytes) -> list[FuturesRow]:
    rows = _decode(_FUTURES, data, "futures").rows
    for row in rows:
        _amounts(f"futures ({row.symbol})", mark_price=row.mark_price,
                 index_price=row.index_price, open_interest=row.open_interest, open=row.open,
                 high=row.high, low=row.low, close=row.close, volume=row.volume,
                 amount=row.amount)  # fmt: skip
    return rows


class FundingRateRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """One perpetual in ``/v3/public/fundingRate``: the estimate and the last settled rate."""

    symbol: str
    est_funding_rate: Decimal
    next_funding_time: int
    est_funding_rate_timestamp: int | None = None
    last_funding_rate: Decimal | None = None
    last_funding_rate_timestamp: int | None = None
    est_funding_interval_hours: int | None = None
    last_funding_interval_hours: int | None = None


class _FundingRows(msgspec.Struct, frozen=True, gc=False):
    rows: list[FundingRateRow]


_FUNDING: Final = msgspec.json.Decoder(_FundingRows)


def parse_funding_rate(data: msgspec.Raw | bytes) -> list[FundingRateRow]:
    rows = _decode(_FUNDING, data, "fundingRate").rows
    for row in rows:
        for rate in (row.est_funding_rate, row.last_funding_rate):
            if rate is not None and not rate.is_finite():
                raise ExchangeError(f"WOO X fundingRate reply is invalid: rate {rate} for "
                                    f"{row.symbol}")  # fmt: skip
    return rows


def funding_rate_history_query(symbol: str, *, start: int, end: int, page: int = 1
                               ) -> dict[str, str]:  # fmt: skip
    """``/v3/public/fundingRateHistory`` (25 rows a page; a page-size parameter is UNCERTAIN)."""
    return {"symbol": symbol, "startTime": str(start), "endTime": str(end), "page": str(page)}


class FundingHistoryRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """One settled funding: ``next_funding_time`` is the next row's ``funding_rate_timestamp``
    (the chain that proves a history complete)."""

    symbol: str
    funding_rate: Decimal
    funding_rate_timestamp: int
    next_funding_time: int
    mark_price: Decimal | None = None


class PageMeta(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    total: int
    records_per_page: int
    current_page: int


class FundingHistoryPage(msgspec.Struct, frozen=True, gc=False):
    rows: list[FundingHistoryRow]
    meta: PageMeta | None = None


_FUNDING_HISTORY: Final = msgspec.json.Decoder(FundingHistoryPage)


def parse_funding_rate_history(data: msgspec.Raw | bytes) -> FundingHistoryPage:
    page = _decode(_FUNDING_HISTORY, data, "fundingRateHistory")
    for row in page.rows:
        if not row.funding_rate.is_finite():
            raise ExchangeError(f"WOO X fundingRateHistory reply is invalid: rate "
                                f"{row.funding_rate}")  # fmt: skip
        _amounts("fundingRateHistory", mark_price=row.mark_price)
    return page


# ---- system status ------------------------------------------------------------------------------


class SystemInfo(msgspec.Struct, frozen=True, gc=False):
    """``/v3/public/systemInfo``: ``status`` 0 normal, 1 trading maintenance, 2 system
    maintenance."""

    status: int
    msg: str = ""


_SYSTEM: Final = msgspec.json.Decoder(SystemInfo)


def parse_system_info(data: msgspec.Raw | bytes) -> SystemInfo:
    return _decode(_SYSTEM, data, "systemInfo")
