"""The datasource contract: hook specifications, the records they exchange, and their errors.

This module is the whole interface between a terminal (the host) and a datasource plugin. It
imports nothing from the rest of the project, so a third-party host can vendor it or depend on it
alone. A host needs only::

    import pluggy
    pm = pluggy.PluginManager("plusev.datasource")
    pm.load_setuptools_entrypoints("plusev.datasources", name="woox")
    targets = pm.hook.network_targets()[0]

Conventions every hook follows:

* Hooks are called per plugin, never merged across plugins. Keep one ``PluginManager`` per plugin
  (or use ``subset_hook_caller``); a call then returns a one-element list.
* No hook is ``firstresult``. Async hooks return an awaitable or async iterator, and pluggy would
  take a coroutine as the first non-None result even when it will produce ``None``.
* Times are integer milliseconds since the Unix epoch, UTC. Intervals are seconds, 60 … 31536000;
  the month (2592000) and year (31536000) are calendar-aligned, not fixed-length steps.
* Ranges are half-open by open time: ``[start, end)`` holds the candles whose
  ``open_time >= start`` and ``open_time < end``.
* Prices and volumes are :class:`decimal.Decimal` holding exactly the digits the exchange sent.
* ``session`` is an :class:`aiohttp.ClientSession` owned by the host, which enforces the plugin's
  declared network targets. A plugin never creates a session of its own and never closes this one.
* Every event's ``time`` is the exchange's own timestamp (ms), never the local clock.

Contract v2 adds every public market-data channel to the one ``start_stream`` hook: a
:class:`StreamConfig` names its :class:`Channel`, :attr:`DatasourceInfo.channels` says which
channels a plugin serves (and for which market kinds), and each channel yields its own event
records. ``StreamConfig(symbol, interval)`` still means candles, so a v1 host keeps working.
:class:`OrderBook` is the reference meaning of a :class:`BookEvent`; this module stays importable
with only ``pluggy`` and ``attrs`` so that a third-party host can vendor it whole.
"""

from __future__ import annotations

import datetime
import enum
from bisect import bisect_left, insort
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs
import pluggy

if TYPE_CHECKING:
    import aiohttp

PROJECT_NAME = "plusev.datasource"
"""The pluggy project name; hook implementations must be marked with it."""

ENTRY_POINT_GROUP = "plusev.datasources"
"""The entry-point group under which datasource plugins register."""

MIN_INTERVAL = 60
MAX_INTERVAL = 31_536_000

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DatasourceError(Exception):
    """Base of every error a datasource plugin raises on purpose."""


class InvalidRequest(DatasourceError, ValueError):
    """The request itself is wrong: bad symbol format, unsupported interval, empty or reversed
    range, unknown setting. Retrying the same request cannot help."""


class UnknownSymbol(DatasourceError, LookupError):
    """The exchange does not list this symbol (or refused to subscribe to it)."""

    def __init__(self, symbol: str, detail: str = "") -> None:
        self.symbol = symbol
        self.detail = detail
        message = f"unknown symbol {symbol!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class ExchangeError(DatasourceError):
    """The exchange answered with an error (or not at all). ``code`` and ``message`` are the
    exchange's own; ``status`` is the HTTP status when there was one. ``retryable`` says whether
    the same request may succeed later (5xx, gateway errors, timeouts)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.retryable = retryable
        parts = [message]
        if code is not None:
            parts.append(f"code {code}")
        if status is not None:
            parts.append(f"HTTP {status}")
        super().__init__(" | ".join(parts))


class RateLimited(ExchangeError):
    """The exchange refused the request for exceeding its rate limit (HTTP 429 / -1003), and the
    plugin's retries did not get through either."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = 429) -> None:
        super().__init__(message, code=code, status=status, retryable=True)


class StreamFailed(DatasourceError):
    """A live stream ended for good (not a transient disconnect, which the plugin heals itself)."""


class NetworkNotAllowed(PermissionError):
    """The host's network policy refused a URL. Raised by the session the host hands a plugin.

    ``plugin`` names the plugin, ``url`` the refused URL, ``reason`` why, and ``nearest`` the
    allowed pattern closest to it (empty when the policy is empty).

    A host raises it from the session as a subclass that is also an ``aiohttp.ClientError``
    (``host_stub.netpolicy.PolicyRefusal``): aiohttp re-wraps any other ``OSError`` escaping a
    middleware, connector or resolver as ``ClientOSError``, which would hide the refusal and
    invite a retry. This module stays free of aiohttp; ``except NetworkNotAllowed`` catches every
    refusal. A refusal is final: retry code that retries ``aiohttp.ClientError`` or ``OSError``
    must let ``NetworkNotAllowed`` through first (it is no ``ClientConnectionError``)."""

    def __init__(self, plugin: str, url: str, reason: str, nearest: str = "") -> None:
        self.plugin = plugin
        self.url = url
        self.reason = reason
        self.nearest = nearest
        text = f"plugin {plugin!r} may not reach {url!r}: {reason}"
        if nearest:
            text += f" (nearest allowed pattern: {nearest!r})"
        super().__init__(text)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class MarketKind(enum.StrEnum):
    SPOT = "spot"
    PERP = "perp"


@attrs.frozen
class OHLCV:
    """One candle. ``close_time`` is exclusive: the open time of the next candle."""

    symbol: str
    interval: int
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    """Traded volume in the base asset."""
    quote_volume: Decimal
    """Traded value in the quote asset."""


def _require_interval(name: str, value: object) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not (MIN_INTERVAL <= value <= MAX_INTERVAL)
    ):
        raise InvalidRequest(
            f"{name} must be integer seconds between {MIN_INTERVAL} and {MAX_INTERVAL}, "
            f"got {value!r}"
        )


def _check_interval(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    _require_interval(attribute.name, value)


_SECONDS_LIKE = range(10**9, 10**11)
"""Epoch milliseconds in this range fall in 1970-1973, when no market here traded; as epoch
seconds they are 2001-5138: such a time was given in seconds."""


def _check_epoch_ms(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A time field: integer epoch milliseconds (None where the field is optional)."""
    if value is None:
        return
    if type(value) is not int:
        raise InvalidRequest(
            f"{attribute.name} must be epoch milliseconds (an integer), got "
            f"{type(value).__name__} {value!r}"
        )
    if value in _SECONDS_LIKE:
        when = datetime.datetime.fromtimestamp(value, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise InvalidRequest(
            f"{attribute.name} {value} looks like epoch seconds ({when}); times are epoch "
            f"milliseconds: {value * 1000}"
        )


@attrs.frozen
class HistoryRequest:
    """Ask for candles of ``symbol`` at ``interval`` seconds, in exactly one of three forms:

    * ``start`` + ``end``: the candles opening in ``[start, end)`` ms;
    * ``limit`` (+ optional ``end``, default the exchange's now): the ``limit`` closed candles
      opening before ``end``, the latest ones when ``end`` is omitted ("the last 500 candles",
      "300 candles before T");
    * ``limit`` + ``start``: the first ``limit`` closed candles opening at or after ``start``.

    Only closed candles are returned, ascending; exactly ``limit`` unless the exchange has fewer
    (a recent listing: all it has, no error). Any other combination is an
    :class:`InvalidRequest` naming the fields given."""

    symbol: str
    interval: int = attrs.field(validator=_check_interval)
    start: int | None = attrs.field(default=None, validator=_check_epoch_ms)
    end: int | None = attrs.field(default=None, validator=_check_epoch_ms)
    limit: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end", "limit"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidRequest(f"{name} must be an integer, got {value!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidRequest(f"{name} must be epoch milliseconds >= 0, got {value}")
        if self.limit is not None and self.limit <= 0:
            raise InvalidRequest(f"limit must be a positive number of candles, got {self.limit}")
        given = [n for n in ("start", "end", "limit") if getattr(self, n) is not None]
        if given not in (["start", "end"], ["limit"], ["end", "limit"], ["start", "limit"]):
            what = " + ".join(given) if given else "none of start, end, limit"
            raise InvalidRequest(
                f"a history request takes start + end, limit (+ end), or limit + start; got {what}"
            )
        if self.start is not None and self.end is not None and self.start >= self.end:
            what = "empty" if self.start == self.end else "reversed"
            raise InvalidRequest(
                f"{what} range: start ({self.start}) must be before end ({self.end}); "
                "ranges are half-open [start, end) in epoch milliseconds"
            )


class Channel(enum.StrEnum):
    """A kind of live market data, named in :attr:`StreamConfig.channel`. A plugin lists the ones
    it serves in :attr:`DatasourceInfo.channels`; a host never needs a new hook for a new kind."""

    CANDLES = "candles"
    """OHLCV candles at an interval: :class:`CandleEvent`, provisional then final."""
    TRADES = "trades"
    """Every public trade, in exchange-time order, exactly once: :class:`TradeEvent`."""
    BBO = "bbo"
    """Best bid and offer, newest wins: :class:`QuoteEvent`."""
    TICKER = "ticker"
    """Rolling 24 h statistics, newest wins: :class:`TickerEvent`."""
    BOOK = "book"
    """The order book to ``depth`` levels per side: :class:`BookEvent` (see :class:`OrderBook`)."""
    MARK_PRICE = "mark_price"
    """A perpetual's mark price, newest wins: :class:`PriceEvent`."""
    INDEX_PRICE = "index_price"
    """The index price of a market, newest wins: :class:`PriceEvent`."""
    FUNDING = "funding"
    """A perpetual's estimated next funding rate, newest wins: :class:`FundingEvent`."""
    OPEN_INTEREST = "open_interest"
    """A perpetual's open interest, newest wins: :class:`OpenInterestEvent`."""


BOOK_DEPTHS: Final = (50, 200, 500)
"""The depths of the incremental book a :class:`StreamConfig` may ask for (levels per side)."""
DEFAULT_BOOK_DEPTH: Final = 50
BOOK_TOP_DEPTH: Final = 10
"""``depth=10`` (with ``rpi=True``) asks for the exchange's pushed top-10 book instead: every
event a snapshot of 10 levels per side (WOO X's ``orderbook10``, which appears to include RPI
orders)."""

# Which channels take which option; everything else refuses it (see StreamConfig).
_TAKES: Final[Mapping[str, frozenset[Channel]]] = {
    "interval": frozenset({Channel.CANDLES}),
    "depth": frozenset({Channel.BOOK}),
    "rpi": frozenset({Channel.BOOK, Channel.BBO}),
    "backfill_from": frozenset({Channel.CANDLES, Channel.TRADES}),
    "finals_only": frozenset({Channel.CANDLES}),
}


def _to_channel(value: Channel | str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise InvalidRequest(f"unknown channel {value!r}; channels: {', '.join(Channel)}") from None


@attrs.frozen
class StreamConfig:
    """Ask for a live stream of ``channel`` for ``symbol``.

    ``StreamConfig(symbol, interval)`` asks for candles, as in contract v1. Each option belongs to
    the channels where it means something, and any other combination is an
    :class:`InvalidRequest` naming the field and what the channel accepts:

    * ``interval`` (seconds): required for ``candles``, refused elsewhere.
    * ``depth``: ``book`` only; one of :data:`BOOK_DEPTHS`, default 50 (filled in, so a book
      config always carries its depth), or :data:`BOOK_TOP_DEPTH` for the pushed top-10 book.
    * ``rpi``: ``book`` and ``bbo`` only; the book including Retail Price Improvement orders, a
      different book that is never mixed with the plain one.
    * ``backfill_from`` (ms): ``candles`` and ``trades``; means what a history ``start`` means:
      the recent past from there arrives first, then live, with no hole and no duplicate at the
      seam (candles: the first final candle opening at or after it).
    * ``finals_only``: ``candles`` only; suppresses provisional updates."""

    symbol: str
    interval: int | None = None
    channel: Channel = attrs.field(default=Channel.CANDLES, converter=_to_channel, kw_only=True)
    depth: int | None = attrs.field(default=None, kw_only=True)
    rpi: bool = attrs.field(default=False, kw_only=True)
    backfill_from: int | None = attrs.field(default=None, kw_only=True, validator=_check_epoch_ms)
    finals_only: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        channel = self.channel
        given = {
            "interval": self.interval is not None,
            "depth": self.depth is not None,
            "rpi": self.rpi is not False,
            "backfill_from": self.backfill_from is not None,
            "finals_only": self.finals_only is not False,
        }
        for name, present in given.items():
            if present and channel not in _TAKES[name]:
                takers = " and ".join(sorted(_TAKES[name]))
                raise InvalidRequest(
                    f"{name}={getattr(self, name)!r} does not apply to the {channel} channel: "
                    f"only {takers} take{'s' * (len(_TAKES[name]) == 1)} {name}"
                )
        if channel is Channel.CANDLES:
            if self.interval is None:
                raise InvalidRequest(
                    f"the candles channel needs an interval: seconds between {MIN_INTERVAL} and "
                    f"{MAX_INTERVAL}, e.g. StreamConfig(symbol, 60)"
                )
            _require_interval("interval", self.interval)
        if channel is Channel.BOOK:
            if self.depth is None:
                object.__setattr__(self, "depth", DEFAULT_BOOK_DEPTH)
            elif type(self.depth) is not int or self.depth not in (*BOOK_DEPTHS, BOOK_TOP_DEPTH):
                raise InvalidRequest(
                    f"depth={self.depth!r} is not a book depth: the book channel accepts "
                    f"{', '.join(map(str, BOOK_DEPTHS))} levels per side "
                    f"(default {DEFAULT_BOOK_DEPTH}), or {BOOK_TOP_DEPTH} with rpi=True for the "
                    "pushed top-10 book"
                )
        for name in ("rpi", "finals_only"):
            if type(getattr(self, name)) is not bool:
                raise InvalidRequest(f"{name} must be True or False, got {getattr(self, name)!r}")
        backfill = self.backfill_from
        if backfill is not None and (type(backfill) is not int or backfill < 0):
            raise InvalidRequest(f"backfill_from must be epoch milliseconds >= 0, got {backfill!r}")


@attrs.frozen
class Market:
    """A tradable instrument. Ticks and limits are exact decimals, ``None`` when not given."""

    symbol: str
    base: str
    quote: str
    kind: MarketKind
    status: str
    """The exchange's own status word, e.g. ``TRADING``."""
    active: bool
    price_tick: Decimal | None = None
    quantity_tick: Decimal | None = None
    min_quantity: Decimal | None = None
    max_quantity: Decimal | None = None
    min_notional: Decimal | None = None


@attrs.frozen
class TimeframeInfo:
    """One interval the plugin knows, and whether history and/or live streaming serve it."""

    interval: int
    label: str
    history: bool
    live: bool


@attrs.frozen
class ChannelInfo:
    """One channel a plugin serves: for which market ``kinds``, at which book ``depths`` (empty
    outside ``book``), whether a ``backfill_from`` can be served, and whether an ``rpi`` variant
    exists."""

    channel: Channel
    kinds: tuple[MarketKind, ...]
    depths: tuple[int, ...] = ()
    backfill: bool = False
    rpi: bool = False


@attrs.frozen
class DatasourceInfo:
    """What a plugin is and serves. ``channels`` lists the live channels :func:`start_stream`
    accepts (a channel not listed is refused with :class:`InvalidRequest`)."""

    id: str
    name: str
    version: str
    timeframes: tuple[TimeframeInfo, ...]
    streaming: bool
    channels: tuple[ChannelInfo, ...] = ()


class ConfigType(enum.StrEnum):
    """How a terminal should draw and check a setting (the value is always passed as text)."""

    TEXT = "text"
    URL = "url"
    INTEGER = "integer"
    CHOICE = "choice"
    """One of :attr:`ConfigField.choices`."""
    BOOLEAN = "boolean"
    """``true`` or ``false``."""


@attrs.frozen
class ConfigField:
    """One setting :func:`configure` accepts, described so a terminal can draw the form.

    ``default`` is the value used when the setting is left out, as text (``None`` when the
    default depends on other settings; ``description`` then says how). ``choices`` is non-empty
    exactly for :attr:`ConfigType.CHOICE`. ``secret`` asks the host to mask the value and store
    it encrypted."""

    name: str
    label: str
    type: ConfigType
    default: str | None = None
    choices: tuple[str, ...] = ()
    description: str = ""
    secret: bool = False


# --------------------------------------------------------------------------------------------
# Stream events
# --------------------------------------------------------------------------------------------


@attrs.frozen
class CandleEvent:
    """A candle update. ``final`` is True exactly once per candle, after which it never changes;
    provisional updates (``final=False``) may be conflated when the consumer is slow."""

    candle: OHLCV
    final: bool


class Side(enum.StrEnum):
    """The taker's side of a trade: ``BUY`` lifted an offer, ``SELL`` hit a bid."""

    BUY = "buy"
    SELL = "sell"


@attrs.frozen
class Trade:
    """One public trade. ``side`` is the taker side; ``external`` is True for trades the exchange
    aggregates from other venues, so a host can show the exchange's own trades only."""

    symbol: str
    time: int
    price: Decimal
    size: Decimal
    """In the base asset."""
    side: Side
    external: bool = False


@attrs.frozen
class TradeEvent:
    """A trade on the ``trades`` channel: exchange-time order, each trade exactly once (a window
    that could not be recovered is a ``gap_unfillable`` :class:`StatusEvent` with its bounds)."""

    trade: Trade


@attrs.frozen
class QuoteEvent:
    """Best bid and offer (``bbo``). A side with no orders has ``None`` price and size."""

    symbol: str
    time: int
    bid_price: Decimal | None
    bid_size: Decimal | None
    ask_price: Decimal | None
    ask_size: Decimal | None


@attrs.frozen
class TickerEvent:
    """Rolling 24 h statistics (``ticker``): ``volume`` in the base asset, ``quote_volume`` in the
    quote asset, ``trades`` the number of trades."""

    symbol: str
    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


@attrs.frozen
class PriceEvent:
    """A mark or index price; ``channel`` says which (``mark_price`` or ``index_price``).
    ``symbol`` is the symbol the stream was asked for, even where the exchange publishes the
    index under another one."""

    channel: Channel
    symbol: str
    time: int
    price: Decimal


@attrs.frozen
class FundingEvent:
    """The estimated funding rate (a fraction per funding interval) of the settlement at
    ``next_funding_time`` (ms)."""

    symbol: str
    time: int
    rate: Decimal
    next_funding_time: int


@attrs.frozen
class OpenInterestEvent:
    """A perpetual's open interest."""

    symbol: str
    time: int
    open_interest: Decimal


Level = tuple[Decimal, Decimal]
"""One book level: (price, size)."""


@attrs.frozen
class BookEvent:
    """A change of the order book (``book``), to be applied as :meth:`OrderBook.apply` does.

    ``snapshot=True`` replaces the whole book with ``bids`` and ``asks``; ``snapshot=False`` sets
    each listed price's size, a size of 0 deleting that price. After every event the consumer's
    book is exactly the exchange's top-``depth`` book as of ``time``. Levels are
    ``(price, size)`` pairs; their order carries no meaning."""

    symbol: str
    depth: int
    time: int
    snapshot: bool
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class OrderBook:
    """The reference meaning of :class:`BookEvent`: ``apply`` every event of a ``book`` stream in
    order, and this holds the exchange's top-``depth`` book as of :attr:`time`.

    A snapshot replaces the book; a delta sets each listed price's size (0 deletes it); then each
    side keeps its best ``depth`` levels. Prices are exact :class:`~decimal.Decimal` keys, so
    ``"0.00020"`` and ``"0.0002"`` are one price. ``depth`` and ``symbol`` are fixed by the first
    event unless given; an event for another symbol or depth, a delta before any snapshot, or a
    negative size is a :class:`ValueError` (a host mixing up its streams), never a silently wrong
    book. Small and self-contained, so a host can vendor it with the rest of this module; the
    WOO X plugin keeps its own books with this same class."""

    __slots__ = ("_ask_prices", "_asks", "_bid_prices", "_bids", "depth", "symbol", "time")

    def __init__(self, depth: int | None = None, symbol: str | None = None) -> None:
        if depth is not None and (type(depth) is not int or depth < 1):
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self.depth = depth
        self.symbol = symbol
        self.time: int | None = None
        """The ``time`` of the last event applied; None until the first snapshot."""
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_prices: list[Decimal] = []  # ascending, like _ask_prices
        self._ask_prices: list[Decimal] = []

    def apply(self, event: BookEvent) -> None:
        """Apply one event (see the class docstring)."""
        if self.symbol is None:
            self.symbol = event.symbol
        elif event.symbol != self.symbol:
            raise ValueError(f"a {event.symbol} book event cannot update the {self.symbol} book")
        if self.depth is None:
            if type(event.depth) is not int or event.depth < 1:
                raise ValueError(f"book event depth must be a positive integer: {event.depth!r}")
            self.depth = event.depth
        elif event.depth != self.depth:
            raise ValueError(
                f"a depth-{event.depth} book event cannot update a depth-{self.depth} book"
            )
        for side in (event.bids, event.asks):
            for price, size in side:
                if size < 0:
                    raise ValueError(f"book level {price} has a negative size {size}")
        if event.snapshot:
            self._bids.clear()
            self._asks.clear()
            self._bid_prices.clear()
            self._ask_prices.clear()
        elif self.time is None:
            raise ValueError(
                f"a {self.symbol} book delta arrived before any snapshot: nothing to apply it to"
            )
        _set_levels(self._bids, self._bid_prices, event.bids)
        _set_levels(self._asks, self._ask_prices, event.asks)
        depth = self.depth
        excess = len(self._bid_prices) - depth
        if excess > 0:  # bids keep their highest prices
            for price in self._bid_prices[:excess]:
                del self._bids[price]
            del self._bid_prices[:excess]
        if len(self._ask_prices) > depth:  # asks keep their lowest prices
            for price in self._ask_prices[depth:]:
                del self._asks[price]
            del self._ask_prices[depth:]
        self.time = event.time

    @property
    def bids(self) -> tuple[Level, ...]:
        """Bid levels, best (highest price) first."""
        sizes = self._bids
        return tuple((price, sizes[price]) for price in reversed(self._bid_prices))

    @property
    def asks(self) -> tuple[Level, ...]:
        """Ask levels, best (lowest price) first."""
        sizes = self._asks
        return tuple((price, sizes[price]) for price in self._ask_prices)

    @property
    def best_bid(self) -> Level | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    @property
    def best_ask(self) -> Level | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    @property
    def crossed(self) -> bool:
        """Whether the best bid reaches the best ask (a symptom of a missed change)."""
        return bool(self._bid_prices and self._ask_prices) and (
            self._bid_prices[-1] >= self._ask_prices[0]
        )

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, depth={self.depth}, time={self.time}, "
            f"best_bid={self.best_bid}, best_ask={self.best_ask})"
        )


def _set_levels(sizes: dict[Decimal, Decimal], prices: list[Decimal], levels: Iterable[Level]
                ) -> None:  # fmt: skip
    for price, size in levels:
        if size:
            if price not in sizes:
                insort(prices, price)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            del prices[bisect_left(prices, price)]


class StatusKind(enum.StrEnum):
    CONNECTED = "connected"
    """Subscribed and receiving live data (also after every reconnect)."""
    RECONNECTING = "reconnecting"
    """The connection was lost or replaced; ``reason`` says why."""
    GAP_FILLED = "gap_filled"
    """Final candles ``[start, end)`` were missed live and filled from history (``count``)."""
    GAP_UNFILLABLE = "gap_unfillable"
    """Data in ``[start, end)`` could not be recovered (candles, trades); ``reason`` says why."""
    BACKFILLED = "backfilled"
    """The requested backfill ``[start, end)`` was delivered (``count`` candles or trades)."""
    RESYNCED = "resynced"
    """A book was rebuilt from a fresh snapshot after its chain of changes broke; a snapshot
    :class:`BookEvent` follows."""
    STALE = "stale"
    """The channel cannot currently be trusted to be current (a book that cannot be seeded, a
    value stream silent past its documented cadence); ``reason`` says which. Live again after
    the next ``connected``, ``resynced`` or fresh value."""


@attrs.frozen
class StatusEvent:
    """Something the consumer should know about the stream's health. ``channel`` says which kind
    of stream it concerns; ``interval`` is the candle interval, None outside ``candles``."""

    kind: StatusKind
    symbol: str
    interval: int | None = None
    reason: str = ""
    start: int | None = None
    end: int | None = None
    count: int | None = None
    channel: Channel = Channel.CANDLES


StreamEvent = (
    CandleEvent
    | TradeEvent
    | QuoteEvent
    | TickerEvent
    | PriceEvent
    | FundingEvent
    | OpenInterestEvent
    | BookEvent
    | StatusEvent
)
"""Everything a :class:`Stream` yields; each channel yields its own record and StatusEvent."""


@runtime_checkable
class Stream(Protocol):
    """A live stream: an async iterator of :data:`StreamEvent` with a stable ``id``; which
    records it yields depends on its :class:`Channel` (see :func:`start_stream`).

    Iteration ends after ``stop_stream(id)``; it raises :class:`StreamFailed` (or
    :class:`UnknownSymbol`) if the stream fails for good."""

    @property
    def id(self) -> str: ...

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...


# --------------------------------------------------------------------------------------------
# Hook specifications
# --------------------------------------------------------------------------------------------


@hookspec
def network_targets() -> list[str]:  # type: ignore[empty-body]
    """Return the URL patterns this plugin may reach.

    Sync, no network. Not firstresult. The list must equal the ``[network] targets`` of the
    plugin's ``manifest.toml``; a host refuses to load a plugin where they differ. Pattern syntax:
    ``scheme://host[:port]/path`` with ``*`` globs in the path, ``*.`` for subdomains, ``:*`` for
    any port (see ``host_stub.netpolicy``)."""


@hookspec
def supports_streaming() -> bool:  # type: ignore[empty-body]
    """Return whether :func:`start_stream` is implemented. Sync, no network. Not firstresult."""


@hookspec
def datasource_info() -> DatasourceInfo:  # type: ignore[empty-body]
    """Return the plugin's id, name, version, timeframe table (per interval: history and/or
    live) and ``channels``: one :class:`ChannelInfo` per live channel :func:`start_stream`
    serves (market kinds, book depths, backfill, rpi). A host offers only those channels. Sync,
    no network. Not firstresult."""


@hookspec
def configure(settings: Mapping[str, str]) -> None:
    """Apply host settings before any async hook is called.

    ``settings`` is a flat string mapping; the WOO X plugin knows ``environment``
    (``production`` | ``staging``), ``rest_url`` and ``ws_url`` (custom base URLs, e.g. a
    simulator, which the host's allowlist must admit). Raises :class:`InvalidRequest` naming an
    unknown key or bad value. Sync, no network. Returns None. Not firstresult."""


@hookspec
def list_markets(session: aiohttp.ClientSession) -> Awaitable[list[Market]]:  # type: ignore[empty-body]
    """Return an awaitable of every market the exchange lists (inactive ones with ``active``
    False). Async, uses the network through ``session``. Not firstresult."""


@hookspec
def fetch_history(  # type: ignore[empty-body]
    session: aiohttp.ClientSession, request: HistoryRequest
) -> AsyncIterator[Sequence[OHLCV]]:
    """Return an async iterator of candle batches answering ``request``: the range
    ``[request.start, request.end)``, or a count of closed candles (see :class:`HistoryRequest`).

    Batches are ascending by open time and de-duplicated, within and across batches; together they
    hold every candle the exchange has in the range (a range before the symbol's listing simply
    yields fewer), or exactly ``limit`` candles unless the exchange has fewer. The latest ``limit``
    candles take at most ceil(limit/1000)+1 requests and are measured from the exchange's clock,
    so a candle still forming is never returned. Raises :class:`InvalidRequest`,
    :class:`UnknownSymbol`, :class:`RateLimited` or :class:`ExchangeError` while iterating. Async,
    uses the network through ``session``. Closing the iterator early (``aclose``) cancels
    outstanding requests. Not firstresult."""


@hookspec
def start_stream(session: aiohttp.ClientSession, config: StreamConfig) -> Awaitable[Stream]:  # type: ignore[empty-body]
    """Return an awaitable that subscribes and resolves to a :class:`Stream` of live events.

    ``config.channel`` picks the data; each channel yields its own record, plus
    :class:`StatusEvent` (``channel`` set) for connection health, gaps and staleness:

    * ``candles``: :class:`CandleEvent`, provisional updates then each candle exactly once final,
      gapless across reconnects (filled from history, else ``gap_unfillable``).
    * ``trades``: :class:`TradeEvent`, exchange-time order, each trade exactly once; an outage
      REST cannot cover is ``gap_unfillable`` with its exact bounds.
    * ``bbo``: :class:`QuoteEvent`; ``ticker``: :class:`TickerEvent`; ``mark_price`` and
      ``index_price``: :class:`PriceEvent`; ``funding``: :class:`FundingEvent`;
      ``open_interest``: :class:`OpenInterestEvent`. Newest value wins (a slow consumer sees the
      newest, conflated per symbol), values never go back in time, a fresh value after every
      reconnect, ``stale`` when a channel with a forced cadence falls silent past it.
    * ``book``: :class:`BookEvent`, a snapshot first, then deltas; applied in order with
      :class:`OrderBook` they give the exchange's exact top-``depth`` book as of each event's
      ``time``. A break is ``resynced`` followed by a snapshot; ``stale`` while the book cannot
      be synced, and no event presents it as current meanwhile.

    Raises :class:`InvalidRequest` for a bad symbol, an interval without live data, a channel
    the plugin does not serve (see :func:`datasource_info`) or one that does not exist for the
    symbol's market kind. An unknown symbol fails the stream with :class:`UnknownSymbol` while
    iterating. Async, uses the network (WebSocket, and REST for snapshots, backfill and gap
    filling) through ``session``, which must stay open until the stream is stopped. Not
    firstresult."""


@hookspec
def stop_stream(stream_id: str) -> Awaitable[None]:  # type: ignore[empty-body]
    """Return an awaitable that stops the stream ``stream_id``: its topic is unsubscribed, its
    iteration ends, and no task of it is left. Idempotent: an unknown or already stopped id is not
    an error. Async. Not firstresult."""


@hookspec
def config_fields() -> list[ConfigField]:  # type: ignore[empty-body]
    """Return every setting :func:`configure` accepts (and nothing else), so a terminal can draw
    a settings form. Sync, no network. Not firstresult. Optional: a plugin without settings need
    not implement it (a host then treats it as an empty list)."""


@hookspec
def shutdown() -> Awaitable[None]:  # type: ignore[empty-body]
    """Return an awaitable that stops every stream and releases everything the plugin holds
    (connections, tasks), leaving nothing behind. A host calls it before unloading a plugin or
    exiting, while the sessions it handed out are still open; the host closes those itself
    afterwards. The plugin may be used again afterwards (streams start afresh). Async. Not
    firstresult. Optional: a plugin holding nothing need not implement it."""
