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
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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
    allowed pattern closest to it (empty when the policy is empty)."""

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


def _check_interval(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise InvalidRequest(
            f"{attribute.name} must be seconds between {MIN_INTERVAL} and {MAX_INTERVAL}, "
            f"got {value!r}"
        )


@attrs.frozen
class HistoryRequest:
    """Ask for the candles of ``symbol`` at ``interval`` seconds opening in ``[start, end)`` ms."""

    symbol: str
    interval: int = attrs.field(validator=_check_interval)
    start: int
    end: int

    def __attrs_post_init__(self) -> None:
        if self.start >= self.end:
            what = "empty" if self.start == self.end else "reversed"
            raise InvalidRequest(
                f"{what} range: start ({self.start}) must be before end ({self.end}); "
                "ranges are half-open [start, end) in epoch milliseconds"
            )
        if self.start < 0:
            raise InvalidRequest(f"start must be epoch milliseconds >= 0, got {self.start}")


@attrs.frozen
class StreamConfig:
    """Ask for live candles of ``symbol`` at ``interval`` seconds.

    ``backfill_from`` (ms) means what a history ``start`` means: the first final candle delivered
    is the first one opening at or after it; history arrives first, then live, with no hole and no
    duplicate at the seam. ``finals_only`` suppresses provisional updates."""

    symbol: str
    interval: int = attrs.field(validator=_check_interval)
    backfill_from: int | None = None
    finals_only: bool = False


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
class DatasourceInfo:
    id: str
    name: str
    version: str
    timeframes: tuple[TimeframeInfo, ...]
    streaming: bool


# --------------------------------------------------------------------------------------------
# Stream events
# --------------------------------------------------------------------------------------------


@attrs.frozen
class CandleEvent:
    """A candle update. ``final`` is True exactly once per candle, after which it never changes;
    provisional updates (``final=False``) may be conflated when the consumer is slow."""

    candle: OHLCV
    final: bool


class StatusKind(enum.StrEnum):
    CONNECTED = "connected"
    """Subscribed and receiving live data (also after every reconnect)."""
    RECONNECTING = "reconnecting"
    """The connection was lost or replaced; ``reason`` says why."""
    GAP_FILLED = "gap_filled"
    """Final candles ``[start, end)`` were missed live and filled from history (``count``)."""
    GAP_UNFILLABLE = "gap_unfillable"
    """Candles ``[start, end)`` could not be recovered; ``reason`` says why."""
    BACKFILLED = "backfilled"
    """The requested backfill ``[start, end)`` was delivered (``count`` candles)."""


@attrs.frozen
class StatusEvent:
    """Something the consumer should know about the stream's health."""

    kind: StatusKind
    symbol: str
    interval: int
    reason: str = ""
    start: int | None = None
    end: int | None = None
    count: int | None = None


StreamEvent = CandleEvent | StatusEvent


@runtime_checkable
class Stream(Protocol):
    """A live stream: an async iterator of :data:`StreamEvent` with a stable ``id``.

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
    """Return the plugin's id, name, version and timeframe table (per interval: history and/or
    live). Sync, no network. Not firstresult."""


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
    """Return an async iterator of candle batches covering ``[request.start, request.end)``.

    Batches are ascending by open time and de-duplicated, within and across batches; together they
    hold every candle the exchange has in the range (a range before the symbol's listing simply
    yields fewer). Raises :class:`InvalidRequest`, :class:`UnknownSymbol`, :class:`RateLimited` or
    :class:`ExchangeError` while iterating. Async, uses the network through ``session``. Closing
    the iterator early (``aclose``) cancels outstanding requests. Not firstresult."""


@hookspec
def start_stream(session: aiohttp.ClientSession, config: StreamConfig) -> Awaitable[Stream]:  # type: ignore[empty-body]
    """Return an awaitable that subscribes and resolves to a :class:`Stream` of live events.

    Raises :class:`InvalidRequest` for a bad symbol or an interval without live data. An
    unknown symbol fails the stream with :class:`UnknownSymbol` while iterating. Async, uses the
    network (WebSocket, and REST for backfill and gap filling) through ``session``, which must stay
    open until the stream is stopped. Not firstresult."""


@hookspec
def stop_stream(stream_id: str) -> Awaitable[None]:  # type: ignore[empty-body]
    """Return an awaitable that stops the stream ``stream_id``: its topic is unsubscribed, its
    iteration ends, and no task of it is left. Idempotent: an unknown or already stopped id is not
    an error. Async. Not firstresult."""
