"""How each channel's events look as rows (table, csv) and objects (jsonl).

One :class:`Layout` per kind of record names its fields once, in the order every format uses:
the csv header, the jsonl keys after ``type``, the table's columns. A record's values are
rendered the same way in all three (:func:`cell`): times by ``times.format_ms`` (ISO-8601, in the
``--tz`` zone), prices and sizes with exactly the exchange's digits in plain notation, enums by
their value. Only what cannot be the same differs: jsonl keeps booleans, integers and a missing
value (``null``) typed, csv writes ``true``/``false`` and blank, the table a flag's name or blank.

Candles are written by ``output.CandleWriter`` (their format predates the channels); a book
event is one row per level in csv and the table (its ``update`` number groups them), one object
in jsonl. :func:`ladder_rows` renders an :class:`~host_stub.spec.OrderBook` side by side, for a
depth view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

import attrs

from host_stub.output import format_decimal
from host_stub.spec import (
    BookEvent,
    Channel,
    FundingEvent,
    OpenInterestEvent,
    OrderBook,
    PriceEvent,
    QuoteEvent,
    TickerEvent,
    TradeEvent,
)
from host_stub.times import format_ms

ChannelEvent = (
    TradeEvent
    | QuoteEvent
    | TickerEvent
    | PriceEvent
    | FundingEvent
    | OpenInterestEvent
    | BookEvent
)
"""Every record of a channel other than candles (and status)."""

Value = str | int | bool | Decimal | None


@attrs.frozen
class Layout:
    """The fields of one kind of record, in output order, and how each is rendered."""

    type: str
    """The jsonl ``type`` (the record's name: ``trade``, ``quote``, ...)."""
    fields: tuple[str, ...]
    """The csv header (``symbol`` first), the jsonl keys after ``type``, the table's columns."""
    times: frozenset[str] = frozenset({"time"})
    """Epoch-ms fields, written as times."""
    decimals: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    """Booleans: ``true``/``false`` in csv, the field's name or blank in the table."""

    @property
    def numbers(self) -> frozenset[str]:
        """Right-aligned in the table."""
        return self.decimals | self.integers


TRADES: Final = Layout(
    "trade",
    ("symbol", "time", "price", "size", "side", "external"),
    decimals=frozenset({"price", "size"}),
    flags=frozenset({"external"}),
)
QUOTES: Final = Layout(
    "quote",
    ("symbol", "time", "bid_price", "bid_size", "ask_price", "ask_size"),
    decimals=frozenset({"bid_price", "bid_size", "ask_price", "ask_size"}),
)
TICKERS: Final = Layout(
    "ticker",
    ("symbol", "time", "open", "high", "low", "close", "volume", "quote_volume", "trades"),
    decimals=frozenset({"open", "high", "low", "close", "volume", "quote_volume"}),
    integers=frozenset({"trades"}),
)
PRICES: Final = Layout("price", ("symbol", "time", "price"), decimals=frozenset({"price"}))
"""Mark and index prices; jsonl adds the ``channel`` after ``type``."""
FUNDING: Final = Layout(
    "funding",
    ("symbol", "time", "rate", "next_funding_time"),
    times=frozenset({"time", "next_funding_time"}),
    decimals=frozenset({"rate"}),
)
OPEN_INTEREST: Final = Layout(
    "open_interest", ("symbol", "time", "open_interest"), decimals=frozenset({"open_interest"})
)
BOOK_LEVELS: Final = Layout(
    "book",
    ("symbol", "depth", "time", "update", "snapshot", "side", "price", "size"),
    decimals=frozenset({"price", "size"}),
    integers=frozenset({"depth", "update"}),
    flags=frozenset({"snapshot"}),
)
"""A book event in csv and the table: one row per level, ``update`` numbering the events (from
1, per symbol), so that the rows of one event can be told from the next one's; an event without
levels (an empty book's snapshot) is one row with blank side, price and size."""

LAYOUTS: Final[Mapping[Channel, Layout]] = {
    Channel.TRADES: TRADES,
    Channel.BBO: QUOTES,
    Channel.TICKER: TICKERS,
    Channel.MARK_PRICE: PRICES,
    Channel.INDEX_PRICE: PRICES,
    Channel.FUNDING: FUNDING,
    Channel.OPEN_INTEREST: OPEN_INTEREST,
    Channel.BOOK: BOOK_LEVELS,
}
"""Every channel but candles, by the layout its events take."""

_LAYOUT_OF: Final[Mapping[type, Layout]] = {
    TradeEvent: TRADES,
    QuoteEvent: QUOTES,
    TickerEvent: TICKERS,
    PriceEvent: PRICES,
    FundingEvent: FUNDING,
    OpenInterestEvent: OPEN_INTEREST,
}


def event_symbol(event: ChannelEvent) -> str:
    return event.trade.symbol if isinstance(event, TradeEvent) else event.symbol


def event_values(event: ChannelEvent) -> tuple[Value, ...]:
    """The values of a (non-book) event in its layout's field order."""
    match event:
        case TradeEvent(trade=t):
            return (t.symbol, t.time, t.price, t.size, t.side.value, t.external)
        case QuoteEvent():
            return (event.symbol, event.time, event.bid_price, event.bid_size, event.ask_price,
                    event.ask_size)  # fmt: skip
        case TickerEvent():
            return (event.symbol, event.time, event.open, event.high, event.low, event.close,
                    event.volume, event.quote_volume, event.trades)  # fmt: skip
        case PriceEvent():
            return (event.symbol, event.time, event.price)
        case FundingEvent():
            return (event.symbol, event.time, event.rate, event.next_funding_time)
        case OpenInterestEvent():
            return (event.symbol, event.time, event.open_interest)
    raise TypeError(f"not a row-per-event record: {type(event).__name__}")


def book_values(event: BookEvent, update: int) -> list[tuple[Value, ...]]:
    """A book event's rows: one per level, bids then asks, in the event's order."""
    head: tuple[Value, ...] = (event.symbol, event.depth, event.time, update, event.snapshot)
    rows = [
        (*head, side, price, size)
        for side, levels in (("bid", event.bids), ("ask", event.asks))
        for price, size in levels
    ]
    return rows or [(*head, None, None, None)]


def cell(layout: Layout, name: str, value: Value, *, table: bool = False) -> str:
    """One value as csv (or, with ``table``, table) text."""
    if value is None:
        return ""
    if name in layout.flags:
        return (name if value else "") if table else ("true" if value else "false")
    if name in layout.times:
        assert isinstance(value, int)
        return format_ms(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


def cells(layout: Layout, values: Sequence[Value], *, table: bool = False) -> tuple[str, ...]:
    return tuple(
        cell(layout, name, value, table=table)
        for name, value in zip(layout.fields, values, strict=True)
    )


def record(layout: Layout, values: Sequence[Value]) -> dict[str, object]:
    """A (non-book) event as a jsonl object: ``type`` first, booleans, integers and missing
    values typed, everything else as its csv text."""
    out: dict[str, object] = {"type": layout.type}
    for name, value in zip(layout.fields, values, strict=True):
        typed = value is None or isinstance(value, bool) or name in layout.integers
        out[name] = value if typed else cell(layout, name, value)
    return out


def event_record(event: ChannelEvent) -> dict[str, object]:
    """Any channel's event as its jsonl object (a price names its ``channel``; a book event is
    one object with ``bids`` and ``asks`` as ``[price, size]`` pairs)."""
    if isinstance(event, BookEvent):
        return {
            "type": "book",
            "symbol": event.symbol,
            "depth": event.depth,
            "time": format_ms(event.time),
            "snapshot": event.snapshot,
            "bids": [[format_decimal(p), format_decimal(s)] for p, s in event.bids],
            "asks": [[format_decimal(p), format_decimal(s)] for p, s in event.asks],
        }
    out = record(_LAYOUT_OF[type(event)], event_values(event))
    if isinstance(event, PriceEvent):
        out = {"type": out.pop("type"), "channel": event.channel.value, **out}
    return out


LADDER_FIELDS: Final = ("bid_size", "bid_price", "ask_price", "ask_size")


def ladder_rows(book: OrderBook, levels: int) -> list[tuple[str, str, str, str]]:
    """The best ``levels`` of each side of ``book``, side by side, best first (a side with
    fewer levels is blank below them): a depth view's rows, in :data:`LADDER_FIELDS` order."""
    bids, asks = book.bids[:levels], book.asks[:levels]
    rows = []
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else (None, None)
        ask = asks[i] if i < len(asks) else (None, None)
        rows.append(
            (format_decimal(bid[1]), format_decimal(bid[0]),
             format_decimal(ask[0]), format_decimal(ask[1]))
        )  # fmt: skip
    return rows
