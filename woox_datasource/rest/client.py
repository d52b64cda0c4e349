"""WOO X REST: instruments and candle history, paced by a shared budget, retried with backoff.

History is fetched in windows of at most 1000 candles (see ``windows.py``), each paged backwards
with the ``before`` cursor alone. Windows run concurrently, but are released strictly in order, so
a consumer sees ascending batches as soon as the earliest pending window is complete, and memory
holds at most a few windows however long the range.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Any
from urllib.parse import urlencode

import aiohttp

from host_stub.spec import OHLCV, ExchangeError, HistoryRequest, Market, RateLimited
from woox_datasource import wire
from woox_datasource.rest.budget import RateBudget
from woox_datasource.rest.counted import fetch_counted
from woox_datasource.rest.windows import Page, Window, WindowResult, later_ms, plan_windows
from woox_datasource.timeframes import Timeframe, count_opens, for_history

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=10.0, sock_connect=10.0, sock_read=20.0)
"""Explicit, because aiohttp's default (5 minutes total, no read timeout) turns a stalled
exchange into a stalled caller."""

_TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
_NEVER_HEALS: tuple[type[Exception], ...] = (
    aiohttp.ClientSSLError,
    *((aiohttp.ClientConnectorDNSError,) if hasattr(aiohttp, "ClientConnectorDNSError") else ()),
)


def _heals(exc: BaseException) -> bool:
    """Whether a transport failure may go away by itself (a timeout, a reset, a dropped
    connection), unlike a name that does not resolve, a refused connection (nothing listens
    there) or a certificate problem, which retrying only hides for seconds."""
    if isinstance(exc, _NEVER_HEALS):
        return False
    return not (
        isinstance(exc, aiohttp.ClientConnectorError)
        and isinstance(exc.os_error, ConnectionRefusedError)
    )


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ExchangeError):
        return exc.message  # its code and status are carried (and shown) once, by the new error
    return f"{type(exc).__name__}: {exc}" if exc is not None else "no attempt made"


class RestClient:
    """REST access to one WOO X deployment through the host's ``session``.

    ``budget`` is shared by every client of a plugin instance (WOO X limits per IP).
    ``max_concurrency`` bounds the windows of one history request in flight; ``retries`` is the
    number of retries after the first attempt of each request."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        budget: RateBudget,
        max_concurrency: int = 8,
        retries: int = 6,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 5.0,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        if max_concurrency < 1 or retries < 0:
            raise ValueError("RestClient needs max_concurrency >= 1 and retries >= 0")
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.timeout = timeout
        self.requests_sent = 0
        """Requests put on the wire by this client (retries included)."""
        self._rng = random.Random()

    # -- one request ----------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with 'equal jitter': spreads retries of concurrent windows
        while never retrying sooner than half the nominal delay."""
        nominal = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(nominal / 2, nominal)

    async def get(self, path: str, query: Mapping[str, str]) -> Any:
        """GET ``path`` and return the reply's ``data`` (see :meth:`get_reply`)."""
        return (await self.get_reply(path, query)).data

    async def get_reply(self, path: str, query: Mapping[str, str]) -> wire.Reply:
        """GET ``path`` and return the reply, retrying what may succeed later.

        Redirects are not followed: each hop would be a request the budget never granted, and
        the WOO X API does not redirect."""
        attempts = self.retries + 1
        last: BaseException | None = None
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        for attempt in range(1, attempts + 1):
            await self.budget.acquire()
            self.requests_sent += 1
            try:
                async with self.session.get(
                    self.base_url + path, params=query, timeout=self.timeout, allow_redirects=False
                ) as response:
                    status, body = response.status, await response.read()
                return wire.parse_reply(status, body)
            except RateLimited as exc:
                self.budget.on_rate_limited()
                last = exc
            except ExchangeError as exc:
                if not exc.retryable:
                    if type(exc) is ExchangeError:  # say where, once; typed errors say what
                        raise ExchangeError(f"GET {url}: {exc.message}", code=exc.code,
                                            status=exc.status) from None  # fmt: skip
                    raise
                last = exc
            except _TRANSPORT_ERRORS as exc:
                if not _heals(exc):
                    raise ExchangeError(f"GET {url} failed: {_describe(exc)}") from None
                last = exc
            # A failed attempt may have been two requests: after a dropped connection aiohttp
            # re-sends a GET once by itself, and whatever that re-send got is what we saw.
            self.budget.charge()
            if attempt < attempts:
                # A warning, so that a host shows it: waiting silently looks like a hang.
                said = last if isinstance(last, ExchangeError) else _describe(last)
                log.warning("GET %s: %s; retrying (attempt %d of %d)", path, said, attempt + 1,
                            attempts)  # fmt: skip
                await asyncio.sleep(self._backoff(attempt))
        raise self._gave_up(url, attempts, last)

    @staticmethod
    def _gave_up(url: str, attempts: int, last: BaseException | None) -> ExchangeError:
        what = f"GET {url} failed after {attempts} attempts; last error: {_describe(last)}"
        if isinstance(last, RateLimited):
            return RateLimited(what, code=last.code, status=last.status)
        if isinstance(last, ExchangeError):
            return ExchangeError(what, code=last.code, status=last.status, retryable=True)
        return ExchangeError(what, retryable=True)

    # -- markets --------------------------------------------------------------------------------

    async def list_markets(self) -> list[Market]:
        """Every instrument WOO X lists, inactive ones with ``active`` False."""
        return wire.parse_instruments(await self.get(wire.INSTRUMENTS_PATH, {}))

    # -- history --------------------------------------------------------------------------------

    async def page(self, symbol: str, tf: Timeframe, before: int | None, limit: int) -> Page:
        """One klineHistory request: up to ``limit`` candles opening before ``before`` (the
        newest ones when ``before`` is None), closed ones only.

        A row ending after the reply's own ``timestamp`` is a candle still forming: history is
        final candles only, so it is left out (whether WOO X ever sends one is undocumented),
        though it still counts for ``oldest`` and ``short``."""
        assert tf.rest_type is not None
        query = wire.kline_history_query(symbol, tf.rest_type, before=before, limit=limit)
        reply = await self.get_reply(wire.KLINE_HISTORY_PATH, query)
        rows = wire.parse_kline_rows(reply.data, symbol, tf)
        closed_by = reply.timestamp if reply.timestamp is not None else math.inf
        closed = {c.open_time: c for c in rows if c.close_time <= closed_by}
        return Page(
            candles=[closed[t] for t in sorted(closed)],
            oldest=min((c.open_time for c in rows), default=None),
            short=len(rows) < limit,
            server_ms=reply.timestamp,
        )

    async def _fetch_window(self, symbol: str, tf: Timeframe, window: Window) -> WindowResult:
        """Closed candles opening in the window, ascending, de-duplicated, whatever order rows
        come in.

        Pages backwards from ``before=window.end`` and stops on the first proof of completeness:
        a short page (nothing older exists, e.g. before the listing: the result is then
        ``exhausted``), a row at or before the window's first open, or a cursor that would not
        move (an exchange ignoring ``before`` must not make us loop)."""
        found: dict[int, OHLCV] = {}
        before, limit = window.end, window.limit
        complete_from = window.complete_from(tf)
        server_ms: int | None = None
        while True:
            page = await self.page(symbol, tf, before, limit)
            server_ms = later_ms(server_ms, page.server_ms)
            for candle in page.candles:
                if window.start <= candle.open_time < window.end:
                    found[candle.open_time] = candle
            oldest = page.oldest
            if oldest is None or page.short:
                return WindowResult([found[t] for t in sorted(found)], True, server_ms)
            if oldest <= complete_from or oldest >= before:
                return WindowResult([found[t] for t in sorted(found)], False, server_ms)
            before = oldest
            limit = min(wire.MAX_KLINE_LIMIT, count_opens(tf, window.start, oldest) + 1)

    async def windows(
        self, symbol: str, tf: Timeframe, windows: Sequence[Window]
    ) -> AsyncGenerator[WindowResult, None]:
        """Fetch ``windows`` concurrently and yield their results in order (empty ones too), each
        as soon as it and every window before it are complete. ``aclose()`` cancels the windows
        still in flight; the first error ends the whole request."""
        ahead = 2 * self.max_concurrency  # completed-but-unreleased windows we may hold
        tasks: dict[int, asyncio.Task[WindowResult]] = {}
        launched = released = 0
        try:
            while released < len(windows):
                running = sum(not t.done() for t in tasks.values())
                while (
                    launched < len(windows)
                    and running < self.max_concurrency
                    and launched - released < ahead
                ):
                    coro = self._fetch_window(symbol, tf, windows[launched])
                    tasks[launched] = asyncio.create_task(coro, name=f"woox-window-{launched}")
                    launched += 1
                    running += 1
                head = tasks[released]
                if not head.done():
                    pending = [t for t in tasks.values() if not t.done()]
                    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()  # fail fast: the first error ends the whole request
                    continue
                result = tasks.pop(released).result()
                released += 1
                yield result
        finally:
            for task in tasks.values():
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def fetch_history(self, request: HistoryRequest) -> AsyncGenerator[list[OHLCV], None]:
        """Ascending, de-duplicated batches answering ``request``: one per window, empty ones
        skipped, for a range; see ``counted.py`` for the forms by count. Raises InvalidRequest,
        UnknownSymbol, RateLimited or ExchangeError while iterating; ``aclose()`` cancels the
        windows still in flight."""
        symbol = wire.normalize_symbol(request.symbol)
        tf = for_history(request.interval)
        if request.limit is not None:
            batches = fetch_counted(self, symbol, tf, request)
        else:
            assert request.start is not None and request.end is not None
            batches = self._batches(symbol, tf, plan_windows(tf, request.start, request.end))
        async with aclosing(batches) as it:
            async for batch in it:
                yield batch

    async def _batches(
        self, symbol: str, tf: Timeframe, windows: Sequence[Window]
    ) -> AsyncGenerator[list[OHLCV], None]:
        async with aclosing(self.windows(symbol, tf, windows)) as results:
            async for result in results:
                if result.candles:
                    yield result.candles

    async def fetch_range(
        self, symbol: str, tf: Timeframe | int, start: int, end: int
    ) -> list[OHLCV]:
        """All candles opening in ``[start, end)`` as one ascending list (e.g. to fill a gap in a
        live stream). An empty range returns ``[]``; a reversed one raises InvalidRequest."""
        if start == end:
            return []
        interval = tf.interval if isinstance(tf, Timeframe) else tf
        candles: list[OHLCV] = []
        async with aclosing(self.fetch_history(HistoryRequest(symbol, interval, start, end))) as it:
            async for batch in it:
                candles.extend(batch)
        return candles
