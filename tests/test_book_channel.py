"""The book channel against the simulator over loopback: after every book event the consumer's
``OrderBook`` equals the simulator's true top-``depth`` book as of the event's time, for several
symbols and depths, through lost deltas, lagging snapshots, drops, silences, refusals and REST
failures; breaks resync on the same socket; stale while the snapshot lags; bad input refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from _book_live import BookWatch, deltas_after
from _book_truth import SkipsPrevTs
from _stream_sim import running

from host_stub.spec import (
    BookEvent,
    Channel,
    InvalidRequest,
    StatusKind,
    StreamConfig,
    UnknownSymbol,
)
from woox_datasource import wire
from woox_datasource.channels.book import BookChannel
from woox_datasource.channels.book_feed import BookFeed
from woox_datasource.stream.feed import Feed, FeedHost

REAL_TIME: dict[str, Any] = {"speed": 1.0}
"""Book pushes follow WOO X's real cadence (50/100/200 ms of market time)."""

BOOKS = [
    ("PERP_BTC_USDT", 50, False),
    ("PERP_ETH_USDT", 200, False),
    ("SPOT_BTC_USDT", 500, False),
    ("PERP_SOL_USDT", 50, True),
]


def book(symbol: str, depth: int = 50, rpi: bool = False) -> StreamConfig:
    return StreamConfig(symbol, channel=Channel.BOOK, depth=depth, rpi=rpi)


async def test_books_equal_the_exchange_after_every_event() -> None:
    async with running(REAL_TIME) as h:
        watches = []
        for symbol, depth, rpi in BOOKS:
            stream = await h.manager.start(h.session, book(symbol, depth, rpi))
            watches.append(BookWatch(h.sim, stream, symbol, depth, rpi))
        for watch in watches:
            await watch.until(deltas_after(8))
        for watch in watches:
            assert watch.problems == [], watch.summary()
            books = watch.books()
            assert books[0].snapshot and len(books[0].bids) == watch.depth
            assert watch.statuses(StatusKind.RESYNCED) == []  # no fault: no resync
            assert watch.compared >= 9
            await watch.aclose()


class SkippingBooks(BookChannel):
    """The book channel with ccxt's book planted: no ``prevTs`` check."""

    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> Feed[Any]:
        feed = super().new_feed(host, topic, config)
        assert isinstance(feed, BookFeed)
        feed.sync = SkipsPrevTs(feed.symbol, feed.depth, rpi=feed.rpi)
        return feed


async def watch_books(h: Any, books: list[tuple[str, int, bool]]) -> list[BookWatch]:
    """One stream per (symbol, depth, rpi), watched; returns once each has had a delta."""
    watches = [
        BookWatch(h.sim, await h.manager.start(h.session, book(s, d, r)), s, d, r)
        for s, d, r in books
    ]
    for watch in watches:
        await watch.until(deltas_after(2), timeout=20)
    return watches


@pytest.mark.parametrize("planted", [False, True])
async def test_a_lost_delta_resyncs_on_the_same_socket_and_is_never_bridged(
    planted: bool,
) -> None:
    """Every book of :data:`BOOKS` loses a delta three times; each loss is a ``resynced`` and a
    snapshot, never bridged. With ccxt's book planted (no ``prevTs`` check) the same losses
    leave the consumer's book wrong, and the comparison says so."""
    async with running(REAL_TIME) as h:
        if planted:
            h.manager.channels[Channel.BOOK] = SkippingBooks()
        books = BOOKS[:1] if planted else BOOKS
        watches = await watch_books(h, books)
        opened, subscribes = h.sim.connections_opened, _subscribes(h.sim)
        for _ in range(3):
            marks = [len(w.events) for w in watches]
            for s, d, r in books:
                h.sim.faults.lose_book_deltas(1, wire.book_topic(s, d, rpi=r))
            for watch, mark in zip(watches, marks, strict=True):
                if planted:  # the consumer's book goes wrong, and the check says so
                    await watch.until(deltas_after(5, mark))
                    continue
                await watch.until(resynced_since(mark), timeout=20)
                await watch.until(deltas_after(2, mark), timeout=20)
                (resynced,) = _resyncs(watch, mark)
                assert "chain break" in resynced.reason, watch.summary()
        if planted:
            (watch,) = watches
            assert any("differs from the simulator's" in p for p in watch.problems)
            await watch.aclose()
            return
        for watch in watches:
            assert watch.problems == [], watch.summary()
            await watch.aclose()
        assert h.sim.stats.book_deltas_lost == 3 * len(books)
        # the same socket, no second SUBSCRIBE: only REST re-seeded the books
        assert (h.sim.connections_opened, _subscribes(h.sim)) == (opened, subscribes)
        assert all(w.statuses(StatusKind.RECONNECTING) == [] for w in watches)


def book_after(index: int) -> Callable[[BookWatch], bool]:
    return lambda w: any(isinstance(e, BookEvent) for e in w.events[index + 1 :])


def resynced_since(mark: int) -> Callable[[BookWatch], bool]:
    return lambda w: bool(_resyncs(w, mark))


def _resyncs(watch: BookWatch, since: int) -> list[Any]:
    return [e for e in watch.statuses(StatusKind.RESYNCED) if watch.events.index(e) >= since]


def _subscribes(sim: Any) -> int:
    return sum(1 for r in sim.ws_received if isinstance(r.parsed, dict)
               and r.parsed.get("cmd") == "SUBSCRIBE")  # fmt: skip


async def test_the_book_is_stale_while_the_snapshot_lags_and_syncs_once_it_catches_up() -> None:
    """REST serves every book as of 5 s ago for 4 s: each book of :data:`BOOKS` says ``stale``
    (why) and presents nothing as current until REST has caught up, then syncs exactly."""
    async with running(REAL_TIME) as h:
        lag_s = 4.0
        h.sim.faults.lag_book_snapshots(5_000, seconds=lag_s)
        lag_ends = time.monotonic() + lag_s
        watches = [
            BookWatch(h.sim, await h.manager.start(h.session, book(s, d, r)), s, d, r)
            for s, d, r in BOOKS
        ]
        for watch in watches:
            await watch.until(lambda w: bool(w.statuses(StatusKind.STALE)), timeout=20)
            stale = watch.statuses(StatusKind.STALE)[0]
            assert "behind the socket" in stale.reason, watch.summary()
            after = watch.events.index(stale)
            await watch.until(book_after(after), timeout=20)
            first = next(i for i, e in enumerate(watch.events) if i > after
                         and isinstance(e, BookEvent))  # fmt: skip
            assert time.monotonic() >= lag_ends - 0.5  # synced again only once REST caught up
            assert watch.events[first - 1] in watch.statuses(StatusKind.RESYNCED)
            await watch.until(deltas_after(3, first), timeout=20)
        for watch in watches:
            assert watch.problems == [], watch.summary()  # every event exact, none while stale
            await watch.aclose()


async def test_drops_silences_refusals_and_rest_failures_keep_the_book_exact() -> None:
    """Every book of :data:`BOOKS` through a dropped connection, a silent one, refused
    reconnects and failing REST reads (with a lost delta to make them matter): exact after every
    event, and current again after each."""
    async with running(REAL_TIME) as h:
        watches = await watch_books(h, BOOKS)
        for fault in ("drop", "silence", "refuse", "rest"):
            marks = [len(w.events) for w in watches]
            if fault == "drop":
                await h.sim.drop_connections()
            elif fault == "silence":
                h.sim.faults.go_silent(1.5)
            elif fault == "refuse":
                h.sim.faults.refuse_connections(1.0)
                await h.sim.drop_connections()
            else:
                h.sim.faults.fail_next(3, 500)
                for s, d, r in BOOKS:
                    h.sim.faults.lose_book_deltas(1, wire.book_topic(s, d, rpi=r))
            for watch, mark in zip(watches, marks, strict=True):
                await watch.until(deltas_after(3, mark), timeout=30)
                assert watch.problems == [], (fault, watch.summary())
        for watch in watches:
            # healed and current: the last book event is recent in the exchange's time
            assert h.sim.clock.now_ms() - watch.books()[-1].time < 3_000, watch.summary()
            assert watch.compared > 12
            await watch.aclose()


async def test_rotations_cost_no_resync() -> None:
    """Make-before-break: both sockets carry the topic for a moment; the book never breaks (the
    new socket's deltas wait for the old one to catch up) and stays exact."""
    symbol, depth = "PERP_BTC_USDT", 50
    async with running(
        {**REAL_TIME, "max_connection_life_s": 2.0}, max_connection_life_s=0.8,
        rotation_overlap_s=0.5,
    ) as h:  # fmt: skip
        watch = BookWatch(h.sim, await h.manager.start(h.session, book(symbol, depth)), symbol,
                          depth)  # fmt: skip
        await watch.until(lambda w: h.manager.stats.rotations >= 3 and bool(w.books()))
        await watch.until(deltas_after(3, len(watch.events)))
        assert h.manager.stats.connections_lost == 0
        assert watch.statuses(StatusKind.RESYNCED) == [], watch.summary()
        assert watch.problems == [], watch.summary()
        await watch.aclose()


async def test_a_slow_consumer_gets_merged_events_and_memory_stays_bounded() -> None:
    symbol, depth = "PERP_BTC_USDT", 50
    async with running(REAL_TIME) as h:
        stream = await h.manager.start(h.session, book(symbol, depth))
        first = await anext(stream)
        while not isinstance(first, BookEvent):
            first = await anext(stream)
        merged_before = h.manager.counters.conflated
        async with asyncio.timeout(20):  # the consumer reads nothing while 30 deltas come
            while h.manager.counters.conflated < merged_before + 30:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # (polling a counter the simulator raises, bounded)
        assert stream.pending <= 3  # they wait as one (statuses aside)
        watch = BookWatch(h.sim, stream, symbol, depth)
        watch.book.apply(first)
        await watch.until(deltas_after(2))
        merged = watch.books()[0]
        assert not merged.snapshot and len(merged.bids) + len(merged.asks) > 3
        assert watch.problems == [], watch.summary()
        await watch.aclose()


async def test_the_top10_option_pushes_snapshots_of_the_rpi_book() -> None:
    symbol = "PERP_BTC_USDT"
    async with running(REAL_TIME) as h:
        stream = await h.manager.start(h.session, book(symbol, 10, rpi=True))
        assert stream.id.startswith("woox-PERP_BTC_USDT-book10rpi-")
        watch = BookWatch(h.sim, stream, symbol, 10, rpi=True)
        await watch.until(lambda w: len(w.books()) >= 5)
        assert all(e.snapshot and e.depth == 10 and len(e.bids) == 10 for e in watch.books())
        assert watch.problems == [], watch.summary()
        assert {topic for topics in h.sim.subscriptions().values() for topic in topics} == {
            f"orderbook10@{symbol}"
        }
        await watch.aclose()


async def test_bad_book_requests_are_refused_by_name() -> None:
    with pytest.raises(InvalidRequest, match=r"depth=20 is not a book depth.*50, 200, 500"):
        book("PERP_BTC_USDT", 20)
    with pytest.raises(InvalidRequest, match="rpi=True does not apply to the trades channel"):
        StreamConfig("PERP_BTC_USDT", channel=Channel.TRADES, rpi=True)
    async with running(REAL_TIME) as h:
        with pytest.raises(InvalidRequest, match=r"depth=10 is WOO X's pushed top-10 book"):
            await h.manager.start(h.session, book("PERP_BTC_USDT", 10))
        stream = await h.manager.start(h.session, book("PERP_NOPE_USDT"))
        with pytest.raises(UnknownSymbol, match="PERP_NOPE_USDT"):
            async for _ in stream:
                pass


async def test_many_reseeds_share_the_budget_and_a_candle_backfill_goes_first() -> None:
    """24 books seeded at once through the 10 requests/s budget; a candle backfill asked for
    after them is served next (candle fills rank before book seeds), never more than 10
    requests in a second reach the exchange, and every book ends exact."""
    symbols = ["PERP_BTC_USDT", "PERP_ETH_USDT", "SPOT_BTC_USDT", "SPOT_ETH_USDT",
               "PERP_SOL_USDT", "SPOT_WOO_USDT"]  # fmt: skip
    specs = [(s, d, False) for s in symbols for d in (50, 200, 500)] + [
        (s, 50, True) for s in symbols
    ]
    async with running(REAL_TIME) as h:
        watches = [
            BookWatch(h.sim, await h.manager.start(h.session, book(s, d, r)), s, d, r)
            for s, d, r in specs
        ]
        await watches[0].until(lambda w: any(r.path == wire.ORDERBOOK_PATH
                                             for r in h.sim.requests))  # fmt: skip
        asked = len(h.sim.requests)
        candles = await h.manager.start(h.session, StreamConfig(
            "PERP_BTC_USDT", 60, backfill_from=h.sim.clock.now_ms() - 2 * 3_600_000))  # fmt: skip
        for watch in watches:
            await watch.until(lambda w: bool(w.books()), timeout=30)
        paths = [r.path for r in h.sim.requests[asked:]]
        first_kline = paths.index(wire.KLINE_HISTORY_PATH)
        assert first_kline <= 1, paths[:5]  # at most the one book read already granted
        assert paths.count(wire.ORDERBOOK_PATH) >= 10  # the books really were still queued
        times = sorted(r.time for r in h.sim.requests)
        assert max(sum(1 for t in times[i:] if t - start < 1.0)
                   for i, start in enumerate(times)) <= 10  # fmt: skip
        for watch in watches:
            assert watch.problems == [], watch.summary()
            await watch.aclose()
        await h.manager.stop(candles.id)
