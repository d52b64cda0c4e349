"""REST beyond klines: trades, the book snapshot, perpetuals and funding (woox-api-streams.md §3).

What WOO X leaves UNCERTAIN is the simulator's stated assumption:

* ``marketTrades?symbol&limit``: the newest ``limit`` trades (default 10, at most
  ``MAX_TRADES_PAGE`` = 500: a busy symbol's page covers a few minutes, so a long outage cannot
  be read back from it), newest first.
* ``marketTradesHistory?symbol&startTime&endTime&limit``: trades with
  ``startTime <= time < endTime`` (default: the last hour), oldest first, at most ``limit``
  (default 100, at most 500) and never splitting a millisecond (a page ends before a millisecond
  whose trades do not all fit, so the next page starts at the last row's time + 1; a first
  millisecond with more trades than a page holds comes whole, over the limit, so that paging
  always moves on). The page size is read from ``limit``, the name ``marketTrades`` uses (WOO X
  leaves this endpoint's parameter names UNCERTAIN; any other parameter, ``size`` included, is
  ignored). Only the last ``trade_history_ms`` (default 24 h) are kept: a ``startTime`` before
  that is HTTP 400 ``-1005`` naming the earliest time served.
* ``orderbook?symbol&maxLevel&rpi``: the top ``maxLevel`` (default 100) levels per side of the
  plain or (``rpi=true``) RPI book, as of the last 200 ms instant (``lag_book_snapshots`` makes it
  older); ``timestamp`` is that view's last change, the ``ts`` of the last delta the matching
  topic published, never the server clock.
* ``futures[?symbol]``, ``fundingRate[?symbol]``: perpetuals only, values of the last whole
  second (what the 1 s topics pushed then) and of the last funding estimate.
* ``fundingRateHistory?symbol&startTime&endTime&page&size``: settlements newest first,
  ``size`` default 25 (``recordsPerPage``), at most 500; ``page`` from 1.

Errors follow the observed v3 bodies (woox-api.md §3): unknown symbol HTTP 400
``{"success":false,"message":"invalid symbol X"}`` (HTTP 500 on ``futures``, and
``no funding rate data for X`` on the funding endpoints, for spot symbols too), a missing or
unusable parameter HTTP 400 ``-1005``, a malformed number HTTP 500 ``-1000``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from .booktape import SNAPSHOT_GRID_MS, last_publication, period_for
from .clock import MarketClock
from .derivs import FUNDING_HOURS, FUNDING_MS, PerpModel, next_funding_time
from .faults import Faults
from .models import Models
from .rest import BadNumber, Params, internal_error, invalid_request, json_response
from .rolling import Warmer
from .units import fmt_decimal

MAX_TRADES_PAGE = 500
DEFAULT_TRADES = 10
DEFAULT_HISTORY_PAGE = 100
HISTORY_WINDOW_MS = 3_600_000
DEFAULT_BOOK_LEVELS = 100
FUNDING_PAGE = 25
MAX_FUNDING_PAGE = 500
SECOND_MS = 1_000


def _invalid_symbol(symbol: str, status: int = 400) -> web.Response:
    return json_response({"success": False, "message": f"invalid symbol {symbol}"}, status)


def _no_funding(symbol: str) -> web.Response:
    return json_response({"success": False, "message": f"no funding rate data for {symbol}"}, 500)


def _query(
    request: web.Request, *numbers: str
) -> tuple[str, Params, list[int | None]] | web.Response:
    """``symbol`` (required) and the integer parameters ``numbers``, or the exchange's answer
    to a missing symbol (HTTP 400 -1005) or a malformed number (HTTP 500 -1000)."""
    params = Params(dict(request.query))
    symbol = params.text("symbol")
    if symbol is None:
        return invalid_request()
    try:
        return symbol, params, [params.integer(name) for name in numbers]
    except BadNumber:
        return internal_error()


def _rows(rows: list[str], now: int, extra: str = "") -> web.Response:
    text = f'{{"success":true,"data":{{"rows":[{",".join(rows)}]{extra}}},"timestamp":{now}}}'
    return web.Response(text=text, content_type="application/json")


class DataApi:
    """Handlers bound to one simulator's models, clock and faults."""

    def __init__(
        self,
        models: Models,
        clock: MarketClock,
        faults: Faults,
        warmer: Warmer,
        trade_history_ms: int,
    ) -> None:
        self.models = models
        self.clock = clock
        self.faults = faults
        self.warmer = warmer
        self.trade_history_ms = trade_history_ms

    def install(self, app: web.Application) -> None:
        routes: dict[str, Callable[[web.Request], object]] = {
            "marketTrades": self.market_trades,
            "marketTradesHistory": self.market_trades_history,
            "orderbook": self.orderbook,
            "futures": self.futures,
            "fundingRate": self.funding_rate,
            "fundingRateHistory": self.funding_rate_history,
        }
        for path, handler in routes.items():
            app.router.add_get(f"/v3/public/{path}", handler)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- trades

    async def market_trades(self, request: web.Request) -> web.Response:
        asked = _query(request, "limit")
        if isinstance(asked, web.Response):
            return asked
        symbol, _, (limit,) = asked
        if symbol not in self.models.market.listings:
            return _invalid_symbol(symbol)
        if limit is not None and limit < 1:
            return invalid_request()
        now = self.clock.now_ms()
        tape = self.models.tape(symbol)
        found = tape.latest(now, min(limit or DEFAULT_TRADES, MAX_TRADES_PAGE))
        return _rows([tape.rest_row(t) for t in found], now)

    async def market_trades_history(self, request: web.Request) -> web.Response:
        asked = _query(request, "startTime", "endTime", "limit")
        if isinstance(asked, web.Response):
            return asked
        symbol, _, (start, end, limit) = asked
        if symbol not in self.models.market.listings:
            return _invalid_symbol(symbol)
        now = self.clock.now_ms()
        end = now + 1 if end is None else min(end, now + 1)
        start = end - HISTORY_WINDOW_MS if start is None else start
        earliest = now - self.trade_history_ms
        if start < earliest:
            message = f"startTime {start} is before the trade history kept (from {earliest})"
            return json_response({"success": False, "code": -1005, "message": message}, 400)
        if (limit is not None and limit < 1) or end < start:
            return invalid_request()
        page = min(limit or DEFAULT_HISTORY_PAGE, MAX_TRADES_PAGE)
        tape = self.models.tape(symbol)
        found = tape.between(start, end) if end > start else []
        if len(found) > page:
            cut = found[page].time  # the first millisecond left out: leave it out whole
            whole = [t for t in found[:page] if t.time < cut]
            # ... unless it is the page's first: then it comes whole, over the limit
            found = whole or [t for t in found if t.time == cut]
        return _rows([tape.rest_row(t) for t in found], now)

    # ---------------------------------------------------------------- book

    async def orderbook(self, request: web.Request) -> web.Response:
        asked = _query(request, "maxLevel")
        if isinstance(asked, web.Response):
            return asked
        symbol, params, (levels,) = asked
        rpi_text = (params.text("rpi") or "false").lower()
        if symbol not in self.models.market.listings:
            return _invalid_symbol(symbol)
        if (levels is not None and levels < 1) or rpi_text not in ("true", "false"):
            return invalid_request()
        depth, rpi = levels or DEFAULT_BOOK_LEVELS, rpi_text == "true"
        book = self.models.book(symbol)
        now = self.clock.now_ms()
        at = (now - self.faults.snapshot_lag_ms()) // SNAPSHOT_GRID_MS * SNAPSHOT_GRID_MS
        stamp = last_publication(book, rpi, depth, period_for(depth), at)
        bids, asks = book.top(at, depth, rpi)
        p = book.model.profile

        def side(levels: list[tuple[int, int]]) -> str:
            return ",".join(
                f'{{"price":"{fmt_decimal(px, p.price_dp)}",'
                f'"quantity":"{fmt_decimal(q, p.volume_dp)}"}}'
                for px, q in levels
            )

        text = (
            f'{{"success":true,"timestamp":{stamp},"data":{{"asks":[{side(asks)}],'
            f'"bids":[{side(bids)}]}}}}'
        )
        return web.Response(text=text, content_type="application/json")

    # ---------------------------------------------------------------- perpetuals

    def _perps(self, request: web.Request) -> list[PerpModel] | str | None:
        """Every listed perpetual, or the one asked for; the bad symbol (a str), or None when
        the ``symbol`` parameter is empty."""
        symbol = request.query.get("symbol")
        if symbol is None:
            found = [self.models.perp(s) for s in self.models.market.listings]
            return [p for p in found if p is not None]
        if not symbol:
            return None
        perp = self.models.perp(symbol)
        return symbol if perp is None else [perp]

    async def futures(self, request: web.Request) -> web.Response:
        perps = self._perps(request)
        if perps is None:
            return invalid_request()
        if isinstance(perps, str):
            return _invalid_symbol(perps, 500)
        now = self.clock.now_ms()
        second = now // SECOND_MS * SECOND_MS
        days = [self.models.day(p.symbol) for p in perps]
        await self.warmer.ready(days, second)
        rows = []
        for perp, day in zip(perps, days, strict=True):
            k = day.ticker(second)
            row = {
                "symbol": perp.symbol,
                "indexPrice": perp.index.price(second),
                "markPrice": perp.mark_price(second),
                "estFundingRate": perp.funding(now).rate,
                "lastFundingRate": perp.settlement(_last_settlement(now)).rate,
                "nextFundingTime": next_funding_time(now),
                "openInterest": perp.open_interest(second).open_interest,
                "24hOpen": k.open,
                "24hClose": k.close,
                "24hHigh": k.high,
                "24hLow": k.low,
                "24hVolume": k.volume,
                "24hAmount": k.amount,
            }
            rows.append(json.dumps(row, separators=(",", ":")))
        return _rows(rows, now)

    async def funding_rate(self, request: web.Request) -> web.Response:
        perps = self._perps(request)
        if perps is None:
            return invalid_request()
        if isinstance(perps, str):
            return _no_funding(perps)
        now = self.clock.now_ms()
        last = _last_settlement(now)
        rows = []
        for perp in perps:
            estimate = perp.funding(now)
            row = {
                "symbol": perp.symbol,
                "estFundingRate": estimate.rate,
                "estFundingRateTimestamp": estimate.time,
                "lastFundingRate": perp.settlement(last).rate,
                "lastFundingRateTimestamp": last,
                "nextFundingTime": estimate.next_funding_time,
                "lastFundingIntervalHours": FUNDING_HOURS,
                "estFundingIntervalHours": FUNDING_HOURS,
            }
            rows.append(json.dumps(row, separators=(",", ":")))
        return _rows(rows, now)

    async def funding_rate_history(self, request: web.Request) -> web.Response:
        asked = _query(request, "startTime", "endTime", "page", "size")
        if isinstance(asked, web.Response):
            return asked
        symbol, _, (start, end, page, size) = asked
        perp = self.models.perp(symbol)
        if perp is None:
            return _no_funding(symbol)
        if (page is not None and page < 1) or (size is not None and size < 1):
            return invalid_request()
        page, size = page or 1, min(size or FUNDING_PAGE, MAX_FUNDING_PAGE)
        now = self.clock.now_ms()
        listed = self.models.listing(symbol).listed_ms
        first = -(-max(listed, start or 0) // FUNDING_MS)
        last = min(now, now if end is None else end) // FUNDING_MS
        total = max(0, last - first + 1)
        newest = last - (page - 1) * size
        rows = []
        for k in range(newest, max(first, newest - size + 1) - 1, -1):
            s = perp.settlement(k * FUNDING_MS)
            row = {
                "symbol": symbol,
                "fundingRate": s.rate,
                "fundingRateTimestamp": s.time,
                "nextFundingTime": s.next_funding_time,
                "markPrice": s.mark_price,
            }
            rows.append(json.dumps(row, separators=(",", ":")))
        meta = f',"meta":{{"total":{total},"recordsPerPage":{size},"currentPage":{page}}}'
        return _rows(rows, now, meta)


def _last_settlement(now: int) -> int:
    return now // FUNDING_MS * FUNDING_MS
