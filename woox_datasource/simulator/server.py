"""``WooXSimulator``: a WOO X v3 public API (REST + WebSocket) on loopback, for tests and demos."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from types import TracebackType

from aiohttp import web

from .blast import BlastReport, blast
from .clock import MarketClock
from .faults import Faults
from .models import Models
from .records import RequestRecord, WsRecord
from .rest import WS_PATH, RateLimiter, RestApi, gateway_error
from .restdata import DataApi
from .rolling import Warmer
from .symbols import DEFAULT_SUSPENDED, Market, default_symbols
from .truth import GroundTruth
from .units import SimCandle
from .ws import WsConfig, WsHub, WsStats

LOOPBACK = "127.0.0.1"


class WooXSimulator(GroundTruth):
    """The exchange, simulated: deterministic candles on a (possibly fast) market clock, served
    over real sockets with WOO X's own message shapes, limits, errors and failure modes.

    ``symbols`` maps each listed symbol to its listing time (ms); the default is a realistic set
    listed years ago plus ``PERP_2Z_USDT`` listed 36 h before the clock's start, with
    ``SPOT_LUNA_USDT`` SUSPENDED. ``suspended`` names symbols whose instrument status is SUSPENDED
    (their candles are still served). ``speed`` only applies when no ``clock`` is given.
    ``rate_limit=None`` turns the REST rate limit off."""

    def __init__(
        self,
        *,
        symbols: Mapping[str, int] | None = None,
        seed: int = 0,
        clock: MarketClock | None = None,
        speed: float = 1.0,
        rate_limit: int | None = 10,
        rate_window_s: float = 1.0,
        idle_timeout_s: float = 60.0,
        server_ping_interval_s: float | None = None,
        push_interval_s: float = 0.05,
        max_topics_per_connection: int = 100,
        max_topics_per_request: int = 10,
        max_connection_life_s: float | None = None,
        suspended: Iterable[str] | None = None,
        trade_history_ms: int = 86_400_000,
        port: int = 0,
    ) -> None:
        if clock is not None and speed != 1.0:
            raise ValueError("pass either clock or speed: speed only configures the default clock")
        for name, value in (
            ("idle_timeout_s", idle_timeout_s),
            ("push_interval_s", push_interval_s),
            ("server_ping_interval_s", server_ping_interval_s),
            ("max_connection_life_s", max_connection_life_s),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if max_topics_per_connection < 1 or max_topics_per_request < 1:
            raise ValueError("topic limits must be >= 1")
        self.clock = clock or MarketClock(time.time_ns() // 1_000_000, speed)
        if symbols is None:
            symbols = default_symbols(self.clock.now_ms())
            suspended = DEFAULT_SUSPENDED if suspended is None else suspended
        self.market = Market(symbols, seed, suspended or ())
        self.models = Models(self.market)
        self._warmer = Warmer()
        self.seed = seed
        self.port = port
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self.ws_received: list[WsRecord] = []
        limiter = RateLimiter(rate_limit, rate_window_s) if rate_limit is not None else None
        self._rest = RestApi(self.market, self.clock, self.faults, self.requests, limiter)
        if trade_history_ms < 0:
            raise ValueError(f"trade_history_ms must be >= 0, got {trade_history_ms}")
        self._data = DataApi(self.models, self.clock, self.faults, self._warmer, trade_history_ms)
        config = WsConfig(
            idle_timeout_s=idle_timeout_s,
            server_ping_interval_s=server_ping_interval_s,
            push_interval_s=push_interval_s,
            max_topics_per_connection=max_topics_per_connection,
            max_topics_per_request=max_topics_per_request,
            max_connection_life_s=max_connection_life_s,
        )
        self._hub = WsHub(
            self.models, self._warmer, self.clock, self.faults, self.ws_received, config
        )
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 (port ``port``, 0 = any free one) and serve REST and WebSocket."""
        if self._runner is not None or self._closed:
            raise RuntimeError("a WooXSimulator starts once")
        app = web.Application()
        self._rest.install(app)
        self._data.install(app)
        app.router.add_get(WS_PATH, self._ws_or_gateway)
        self._rest.install_gateway(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, LOOPBACK, self.port)
        await site.start()
        port = runner.addresses[0][1]
        self._base_url = f"http://{LOOPBACK}:{port}"

    async def warm_up(self, symbols: Iterable[str] | None = None) -> None:
        """Compute the 24 h windows of ``symbols`` (default: all) now, in slices that keep the
        server responsive: a cold window costs 1440 minutes once (about 30 ms), so a venue's
        first ``ticker`` pushes and its first all-perpetuals ``futures`` call would otherwise
        wait seconds for it. Benchmarks call this before they measure."""
        names = list(self.market.listings) if symbols is None else list(symbols)
        days = [self.models.day(s) for s in names]
        await self._warmer.ready(days, self.clock.now_ms() // 1000 * 1000)

    async def _ws_or_gateway(self, request: web.Request) -> web.StreamResponse:
        if web.WebSocketResponse().can_prepare(request).ok:
            return await self._hub.handle(request)
        return gateway_error()  # a plain GET of /v3/public is an unknown REST path

    async def close(self) -> None:
        """Close every WebSocket (1001), then the server. Idempotent; leaves no task behind."""
        if self._closed:
            return
        self._closed = True
        await self._hub.close()
        await self._warmer.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._hub.failures:
            raise RuntimeError(
                f"the simulator failed while pushing: {self._hub.failures[0]!r}"
            ) from self._hub.failures[0]

    async def __aenter__(self) -> WooXSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT``: the base for ``/v3/public/...`` paths."""
        if self._base_url is None:
            raise RuntimeError("the simulator has no URL before start()")
        return self._base_url

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/v3/public``."""
        return "ws" + self.rest_url.removeprefix("http") + WS_PATH

    # ------------------------------------------------------------------ ground truth

    @property
    def symbols(self) -> dict[str, int]:
        """Listed symbol -> listing time (ms)."""
        return {s: listing.listed_ms for s, listing in self.market.listings.items()}

    def candles(self, symbol: str, type: str, start_ms: int, end_ms: int) -> list[SimCandle]:
        """Final candles opening in ``[start_ms, end_ms)``, closed or not, ascending, never before
        the symbol's listing. ``type``: REST spelling, ``3d``, or ``1M`` (same as ``1mon``)."""
        return self.market.candles(symbol, type, start_ms, end_ms)

    def candle_at(self, symbol: str, type: str, start_ms: int) -> SimCandle:
        """The final candle opening exactly at ``start_ms`` (ValueError if none does)."""
        return self.market.candle_at(symbol, type, start_ms)

    def provisional(self, symbol: str, type: str, start_ms: int, at_ms: int) -> SimCandle:
        """The forming candle as a push sent at market time ``at_ms`` shows it."""
        return self.market.provisional(symbol, type, start_ms, at_ms)

    # ------------------------------------------------------------------ WebSocket faults

    async def drop_connections(self) -> None:
        """Abort every WebSocket abruptly (the client sees 1006) and wait until they are gone."""
        await self._hub.drop_all()

    def go_silent(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (pushes, acks, pongs are lost); sockets stay open."""
        self.faults.go_silent(seconds)

    def refuse_connections(self, seconds: float, status: int = 503) -> None:
        """Refuse WebSocket handshakes with HTTP ``status`` for ``seconds``."""
        self.faults.refuse_connections(seconds, status)

    def inject_malformed(self, n: int, *, replace: bool = False) -> None:
        """Precede (``replace=True``: replace) the next ``n`` pushes with malformed frames."""
        self.faults.inject_malformed(n, replace=replace)

    def lose_book_deltas(self, n: int = 1, topic: str | None = None) -> None:
        """Drop the next ``n`` book deltas (``orderbookupdate*``; of ``topic`` only, if given),
        each on the one connection about to send it: its ``prevTs`` chain breaks there."""
        self.faults.lose_book_deltas(n, topic)

    def lag_book_snapshots(self, lag_ms: int, seconds: float) -> None:
        """For ``seconds``, REST ``orderbook`` serves the book of ``lag_ms`` (market time) ago,
        with that book's older ``timestamp``."""
        self.faults.lag_book_snapshots(lag_ms, seconds)

    def duplicate_pushes(self, n: int) -> None:
        """Send each of the next ``n`` pushes twice."""
        self.faults.duplicate_pushes(n)

    async def blast(
        self, messages: int, *, variants: int = 16, rate: float | None = None
    ) -> BlastReport:
        """Benchmark mode: ``messages`` valid pushes per subscribed connection, as fast as
        possible (or ``rate`` per second), wall-clock send time in ``ts`` (see
        :func:`woox_datasource.simulator.blast.blast`)."""
        return await blast(self._hub, messages, variants=variants, rate=rate)

    # ------------------------------------------------------------------ observation

    def subscriptions(self) -> dict[int, list[str]]:
        """Connection id -> its subscribed topics, in subscription order."""
        return {cid: list(conn.subs) for cid, conn in self._hub.connections.items()}

    @property
    def stats(self) -> WsStats:
        """WebSocket counters: pushes sent/lost, finals, malformed, duplicates, pings, pongs."""
        return self._hub.stats

    @property
    def connections_opened(self) -> int:
        return self._hub.stats.connections_opened

    @property
    def active_connections(self) -> int:
        return len(self._hub.connections)

    @property
    def pongs_received(self) -> int:
        """``{"cmd":"PONG"}`` frames clients sent (answers to server PINGs)."""
        return self._hub.stats.pongs_received

    @property
    def connections_refused(self) -> int:
        """WebSocket handshakes refused (``refuse_connections`` or after ``close``)."""
        return self._hub.stats.connections_refused
