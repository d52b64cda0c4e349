"""The simulated exchange's REST side: ``/v3/public/*`` handlers, errors, rate limit, faults.

Bodies are written by hand (compact JSON, strings for every price and size, integer ms times,
``startTimestamp``/``endTimestamp``) to match the captures in woox-api.md §1-§3 byte for byte in
shape. Behaviour the exchange does not document is the simulator's stated assumption:

* ``klineHistory`` rows are newest first and only closed candles (``end <= now``);
* ``before=X`` gives the newest ``limit`` candles opening before ``X``; ``after=X`` gives the
  ``limit`` candles opening right after ``X`` (the oldest ones, what forward paging as in OsEngine
  needs), still newest first; with both, ``before`` wins and ``after`` is ignored;
* ``limit`` above 1000 is clamped to 1000; ``limit < 1`` is an invalid request;
* ``kline`` (latest klines) includes the still-forming candle as its newest row;
* a bad ``type`` is HTTP 400 ``{"success":false,"code":-1005,"message":"..."}``;
* one rate window per client IP covers every REST path; refused (429) requests do not count.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from .faults import Faults, RestFault
from .intervals import INTERVALS, REST_TYPES, Interval
from .market import CandleUnits, MarketClock, fmt_decimal
from .records import RequestRecord
from .symbols import Listing, Market

WS_PATH = "/v3/public"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_INT64 = re.compile(r"-?[0-9]{1,18}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dumps(body: object) -> str:
    """Compact JSON, as the exchange sends it."""
    return json.dumps(body, separators=(",", ":"))


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def invalid_request() -> web.Response:
    """Missing or unusable parameter (observed v3 body, woox-api.md §3)."""
    return json_response(
        {
            "success": False,
            "code": -1005,
            "error_code": 90000,
            "message": "invalid request, please check your request",
        },
        400,
    )


def internal_error() -> web.Response:
    message = f"The server encountered an internal error, request id: {uuid.uuid4().hex}"
    return json_response({"success": False, "code": -1000, "message": message}, 500)


def rate_limited() -> web.Response:
    return json_response({"success": False, "code": -1003, "message": "Rate limit exceed."}, 429)


def gateway_error() -> web.Response:
    """Unknown path or missing upstream: HTTP 200 and no ``success`` field at all."""
    return json_response({"code": 503, "message": "[GW] no upstream server"})


def fault_response(fault: RestFault) -> web.Response:
    if fault.kind == "internal":
        return internal_error()
    if fault.kind == "rate_limit":
        return rate_limited()
    if fault.kind == "gateway":
        return gateway_error()
    if fault.kind == "truncated":
        return web.Response(
            text='{"success":true,"data":{"rows":[{"symbol":"SPOT_BT',
            content_type="application/json",
        )
    reason = f"{fault.status} {_REASONS.get(fault.status, 'Error')}"
    html = f"<html><head><title>{reason}</title></head><body><h1>{reason}</h1></body></html>"
    return web.Response(text=html, status=fault.status, content_type="text/html")


_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


class RateLimiter:
    """Sliding window of ``limit`` requests per ``window_s`` per client IP, on arrival times."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"rate limit needs limit >= 1 and window > 0, got {limit}/{window_s}")
        self.limit = limit
        self.window_s = window_s
        self._arrivals: dict[str, collections.deque[float]] = {}

    def allow(self, ip: str, now: float) -> bool:
        arrivals = self._arrivals.setdefault(ip, collections.deque())
        while arrivals and arrivals[0] <= now - self.window_s:
            arrivals.popleft()
        if len(arrivals) >= self.limit:
            return False
        arrivals.append(now)
        return True


class BadNumber(Exception):
    """A numeric parameter that is not an integer: the exchange answers HTTP 500 -1000."""


class Params:
    def __init__(self, query: dict[str, str]) -> None:
        self.query = query

    def text(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value else None

    def integer(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None:
            return None
        if not _INT64.fullmatch(value):
            raise BadNumber(name)
        return int(value)


@attrs.frozen
class _KlineQuery:
    listing: Listing
    interval: Interval
    before: int | None
    after: int | None
    limit: int
    now_ms: int


def _history_range(q: _KlineQuery) -> tuple[int, int]:
    """Indices of the page's candles: closed only; ``before`` wins over ``after`` (see the
    module docstring). Empty when ``lo > hi``."""
    iv, first = q.interval, q.listing.first_index(q.interval)
    last_closed = iv.index_of(q.now_ms) - 1
    if q.before is not None:
        hi = min(last_closed, iv.index_of(q.before - 1))
        return max(first, hi - q.limit + 1), hi
    if q.after is not None:
        lo = max(first, iv.index_of(q.after) + 1)
        return lo, min(last_closed, lo + q.limit - 1)
    return max(first, last_closed - q.limit + 1), last_closed


def _rows(q: _KlineQuery, units: list[CandleUnits]) -> str:
    """Rows newest first, joined, ready for the envelope."""
    symbol, name = q.listing.model.symbol, q.interval.name
    return ",".join([rest_row(symbol, name, u) for u in reversed(units)])


def _latest_rows(q: _KlineQuery) -> str:
    """The forming candle (as it stands now) and the closed ones before it."""
    iv = q.interval
    current = iv.index_of(q.now_ms)
    lo = max(q.listing.first_index(iv), current - q.limit + 1)
    units = q.listing.model.units_range(iv, lo, current) if lo <= current else []
    if units:
        units[-1] = units[-1].provisional(q.now_ms)
    return _rows(q, units)


PAGE_CACHE_SIZE = 64
"""Encoded history pages kept (closed candles never change): retries and repeated backfills of
the same window cost a dict lookup instead of a thousand candles."""


class RestApi:
    """REST handlers bound to one simulator's market, clock, faults and request log."""

    def __init__(
        self,
        market: Market,
        clock: MarketClock,
        faults: Faults,
        requests: list[RequestRecord],
        limiter: RateLimiter | None,
    ) -> None:
        self.market = market
        self.clock = clock
        self.faults = faults
        self.requests = requests
        self.limiter = limiter
        self._pages: dict[tuple[str, str, int, int], str] = {}

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        app.router.add_get("/v3/public/klineHistory", self.kline_history)
        app.router.add_get("/v3/public/kline", self.latest_klines)
        app.router.add_get("/v3/public/instruments", self.instruments)
        app.router.add_get("/v3/public/systemInfo", self.system_info)

    def install_gateway(self, app: web.Application) -> None:
        """Catch-all for unknown ``/v3`` paths; added last so real routes win."""

        async def unknown(_: web.Request) -> web.Response:
            return gateway_error()

        app.router.add_route("*", "/v3/{tail:.*}", unknown)
        app.router.add_route("*", "/v3", unknown)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == WS_PATH and request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        arrival = time.monotonic()
        record = RequestRecord(
            arrival, request.path, dict(request.query), request.remote or "", self.clock.now_ms()
        )
        self.requests.append(record)
        response: web.StreamResponse | None = None
        fault: RestFault | None = None
        if self.limiter is not None and not self.limiter.allow(record.remote, arrival):
            record.rate_limited = True
            response = rate_limited()
        else:
            fault = self.faults.take_rest_fault()
            if fault is not None:
                record.fault = fault.kind
        if self.faults.latency_s > 0:
            await asyncio.sleep(self.faults.latency_s)
        if fault is not None and fault.kind == "disconnect":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing can be sent on an aborted connection
        if fault is not None:
            response = fault_response(fault)
        if response is None:
            response = await handler(request)
        record.status = response.status
        return response

    def _rows_response(self, rows: str) -> web.Response:
        text = f'{{"success":true,"data":{{"rows":[{rows}]}},"timestamp":{self.clock.now_ms()}}}'
        return web.Response(text=text, content_type="application/json")

    def _kline_query(self, request: web.Request) -> _KlineQuery | web.Response:
        """Validation shared by both kline endpoints, in the exchange's order: missing parameter
        (400), malformed number (500), unknown symbol (400), unknown type (400), bad limit."""
        params = Params(dict(request.query))
        symbol, type_ = params.text("symbol"), params.text("type")
        if symbol is None or type_ is None:
            return invalid_request()
        try:
            before, after, limit = (params.integer(k) for k in ("before", "after", "limit"))
        except BadNumber:
            return internal_error()
        listing = self.market.listings.get(symbol)
        if listing is None:
            return json_response({"success": False, "message": f"invalid symbol {symbol}"}, 400)
        if type_ not in REST_TYPES:
            message = f"type must be one of {', '.join(REST_TYPES)}"
            return json_response({"success": False, "code": -1005, "message": message}, 400)
        if limit is not None and limit < 1:
            return invalid_request()
        clamped = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        return _KlineQuery(listing, INTERVALS[type_], before, after, clamped, self.clock.now_ms())

    def _klines(self, request: web.Request, rows: Callable[[_KlineQuery], str]) -> web.Response:
        query = self._kline_query(request)
        if isinstance(query, web.Response):
            return query
        return self._rows_response(rows(query))

    def _history_rows(self, q: _KlineQuery) -> str:
        lo, hi = _history_range(q)
        if lo > hi:
            return ""
        key = (q.listing.model.symbol, q.interval.name, lo, hi)
        body = self._pages.pop(key, None)
        if body is None:
            body = _rows(q, q.listing.model.units_range(q.interval, lo, hi))
            if len(self._pages) >= PAGE_CACHE_SIZE:
                del self._pages[next(iter(self._pages))]  # least recently used
        self._pages[key] = body
        return body

    async def kline_history(self, request: web.Request) -> web.Response:
        return self._klines(request, self._history_rows)

    async def latest_klines(self, request: web.Request) -> web.Response:
        return self._klines(request, _latest_rows)

    async def instruments(self, _: web.Request) -> web.Response:
        rows = [instrument_row(listing) for listing in self.market.listings.values()]
        body = {"success": True, "data": {"rows": rows}, "timestamp": self.clock.now_ms()}
        return json_response(body)

    async def system_info(self, _: web.Request) -> web.Response:
        data = {"status": 0, "msg": "System is functioning properly."}
        return json_response({"success": True, "data": data, "timestamp": self.clock.now_ms()})


def rest_row(symbol: str, type_: str, u: CandleUnits) -> str:
    """One ``klineHistory`` row, fields in the order of the captured sample."""
    o, h, low, c, v, a = u.strings()
    return (
        f'{{"symbol":"{symbol}","open":"{o}","close":"{c}","high":"{h}","low":"{low}",'
        f'"volume":"{v}","amount":"{a}","type":"{type_}",'
        f'"startTimestamp":{u.start_ms},"endTimestamp":{u.end_ms}}}'
    )


def instrument_row(listing: Listing) -> dict[str, Any]:
    """An ``/v3/public/instruments`` row shaped like the CCXT capture (woox-api.md §2)."""
    model = listing.model
    profile = model.profile
    kind, base, quote = model.symbol.split("_")
    price_units = round(profile.base_price * 10**profile.price_dp)
    row: dict[str, Any] = {
        "symbol": model.symbol,
        "status": listing.status,
        "baseAsset": base,
        "baseAssetMultiplier": 1,
        "quoteAsset": quote,
        "quoteMin": "0",
        "quoteMax": fmt_decimal(price_units * 100, profile.price_dp),
        "quoteTick": fmt_decimal(1, profile.price_dp),
        "baseMin": fmt_decimal(10, profile.volume_dp),
        "baseMax": fmt_decimal(round(profile.volume_per_minute * 2500), 0),
        "baseTick": fmt_decimal(1, profile.volume_dp),
        "minNotional": "1" if kind == "SPOT" else "10",
        "bidCapRatio": "1.1",
        "bidFloorRatio": None,
        "askCapRatio": None,
        "askFloorRatio": "0.9",
        "orderMode": "NORMAL",
        "impactNotional": None if kind == "SPOT" else "100000",
        "isAllowedRpi": False,
        "tickGranularity": None,
    }
    if kind == "PERP":
        row |= {
            "fundingIntervalHours": 8,
            "fundingCap": "0.02",
            "fundingFloor": "-0.02",
            "baseIMR": "0.1",
            "baseMMR": "0.05",
        }
    return row
