"""Fresh values from REST for the latest-value channels, batched where WOO X allows it.

After every (re)subscription a latest-value feed reads its channel's current value from REST, so
that the consumer has a fresh one at once instead of waiting for the next push (a minute for
funding; a quiet symbol's best bid and offer may not change for minutes):

* ``bbo``: ``orderbook?maxLevel=1``, with ``rpi`` matching the topic (the two books differ);
* ``mark_price``, ``index_price``, ``open_interest``: ``futures`` (perpetuals only; the index
  published under ``SPOT_X_Y`` is read from ``PERP_X_Y``'s row, if that perpetual exists);
* ``funding``: ``fundingRate`` (the estimate and the time it was made);
* ``ticker``: none. ``futures`` carries no trade count (and there is no spot REST ticker), and a
  ``TickerEvent`` with an invented count would be wrong: the next push (every second) it is.

``futures`` and ``fundingRate`` answer for one perpetual or for all of them. Reads asked in the
same loop tick, or while one is in flight, go out as one request (every perpetual when more
than one symbol waits), so a venue-wide reconnect costs two requests for every perpetual's mark,
index, open interest and funding, not hundreds at 10 per second.

A seed is one request at :data:`SEED_PRIORITY`: after the host's own calls, before candle gap
fills. A feed cancels its seed as soon as a push brings a fresh value, so while the budget is
busy (a venue reconnecting) the seeds of busy topics never cost a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

import msgspec

from host_stub.spec import (
    Channel,
    FundingEvent,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    UnknownSymbol,
)
from woox_datasource import wire
from woox_datasource.rest import RestClient
from woox_datasource.rest.budget import Priority, set_priority
from woox_datasource.stream.feed import FeedHost

SEED_PRIORITY: Final[Priority] = (0.0, 0.0)
"""REST priority of a fresh value: after a host's own calls (``()``), before candle gap fills
(``(0, interval_s, start)``): each is one request, and it is what "live again" means for its
stream."""


class _Row(Protocol):
    @property
    def symbol(self) -> str: ...


R = TypeVar("R", bound=_Row)
Reading = tuple[R, int | None]
"""A row and the reply's timestamp (the exchange's clock when it answered)."""


class BatchReader(Generic[R]):
    """Reads of one endpoint that answers for one symbol or for all of them, batched (see the
    module docstring). One per session (a FeedHost service)."""

    def __init__(
        self, rest: RestClient, path: str, parse: Callable[[msgspec.Raw], list[R]], what: str
    ) -> None:
        self._rest = rest
        self._path = path
        self._parse = parse
        self._what = what
        self._waiting: dict[str, list[asyncio.Future[Reading[R]]]] = {}
        self._asked: dict[str, list[asyncio.Future[Reading[R]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.requests = 0

    async def read(self, symbol: str) -> Reading[R]:
        """``symbol``'s row; the REST client's errors after its retries, or UnknownSymbol if a
        reply for every symbol has none for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reading[R]] = loop.create_future()
        self._waiting.setdefault(symbol, []).append(future)
        if self._task is None:
            self._task = loop.create_task(self._serve(), name=f"woox-stream-read-{self._what}")
        try:
            return await future
        finally:
            if not future.done() or future.cancelled():
                await self._withdraw(symbol, future)

    async def _withdraw(self, symbol: str, future: asyncio.Future[Reading[R]]) -> None:
        """A reader gave up (its feed got a push, or stopped): the last one out cancels the
        request, and waits until it is gone (a stop leaves no task behind)."""
        for table in (self._waiting, self._asked):
            futures = table.get(symbol)
            if futures is not None and future in futures:
                futures.remove(future)
                if not futures:
                    del table[symbol]
        task = self._task
        if task is not None and not self._waiting and not self._asked:
            self._task = None
            task.cancel()
            await asyncio.wait([task])

    async def _serve(self) -> None:
        me = asyncio.current_task()
        try:
            await asyncio.sleep(0)  # reads asked in this same loop tick join the first request
            set_priority(SEED_PRIORITY)
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                self._asked = batch
                only = next(iter(batch)) if len(batch) == 1 else None
                try:
                    self.requests += 1
                    reply = await self._rest.get_reply(self._path, wire.symbol_query(only))
                    rows = {row.symbol: row for row in self._parse(reply.data)}
                except Exception as exc:  # (the REST client retried what could heal)
                    self._asked = {}
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                self._asked = {}
                for symbol, futures in batch.items():
                    row = rows.get(symbol)
                    for future in futures:
                        if future.done():
                            continue
                        if row is None:
                            future.set_exception(UnknownSymbol(
                                symbol, f"WOO X's {self._what} reply has no row for it"
                            ))  # fmt: skip
                        else:
                            future.set_result((row, reply.timestamp))
        finally:
            if self._task is me:
                self._task = None


FUTURES: Final = "latest.futures"
FUNDING: Final = "latest.fundingRate"


def _futures(host: FeedHost) -> BatchReader[wire.FuturesRow]:
    return host.service(
        FUTURES, lambda: BatchReader(host.rest, wire.FUTURES_PATH, wire.parse_futures, "futures")
    )


def _funding(host: FeedHost) -> BatchReader[wire.FundingRateRow]:
    return host.service(
        FUNDING,
        lambda: BatchReader(
            host.rest, wire.FUNDING_RATE_PATH, wire.parse_funding_rate, "fundingRate"
        ),
    )


async def seed_bbo(host: FeedHost, symbol: str, rpi: bool) -> QuoteEvent | None:
    """The touch from the REST book (``time``: the book's last change)."""
    reply = await host.rest.get_reply(wire.ORDERBOOK_PATH, wire.orderbook_query(symbol, 1, rpi=rpi))
    book = wire.parse_orderbook(reply, symbol, 1)
    bid = max(book.bids, default=None)
    ask = min(book.asks, default=None)
    return QuoteEvent(
        symbol,
        book.time,
        bid[0] if bid else None,
        bid[1] if bid else None,
        ask[0] if ask else None,
        ask[1] if ask else None,
    )


async def seed_mark_price(host: FeedHost, symbol: str, rpi: bool) -> PriceEvent | None:
    row, time = await _futures(host).read(symbol)
    return None if time is None else PriceEvent(Channel.MARK_PRICE, symbol, time, row.mark_price)


async def seed_index_price(host: FeedHost, symbol: str, rpi: bool) -> PriceEvent | None:
    """``symbol`` is the ``SPOT_`` one the index is published under; its perpetual's row has
    it (UnknownSymbol if there is no such perpetual: then only pushes tell)."""
    row, time = await _futures(host).read(wire.perp_symbol(symbol))
    if time is None or row.index_price is None:
        return None
    return PriceEvent(Channel.INDEX_PRICE, symbol, time, row.index_price)


async def seed_open_interest(host: FeedHost, symbol: str, rpi: bool) -> OpenInterestEvent | None:
    row, time = await _futures(host).read(symbol)
    if time is None or row.open_interest is None:
        return None
    return OpenInterestEvent(symbol, time, row.open_interest)


async def seed_funding(host: FeedHost, symbol: str, rpi: bool) -> FundingEvent | None:
    row, time = await _funding(host).read(symbol)
    made = row.est_funding_rate_timestamp if row.est_funding_rate_timestamp is not None else time
    if made is None:
        return None
    return FundingEvent(symbol, made, row.est_funding_rate, row.next_funding_time)
