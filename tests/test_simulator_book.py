"""The simulator's order book: a seeded book per symbol whose changes drive ``orderbookupdate``
deltas with a true ``prevTs`` chain, ``bbo`` and ``orderbook10`` consistent with it, the REST
snapshot timed by the book's last change, and the book faults (a lost delta, a lagging snapshot)."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from _sim_helpers import MINUTE, T0, Json, collect, command, frozen, get_json
from hypothesis import given, settings
from hypothesis import strategies as st

from woox_datasource.simulator import MarketClock, WooXSimulator
from woox_datasource.simulator.booktape import ViewTape, last_publication

NOW = T0 + 30 * MINUTE + 7_000
BTC = "PERP_BTC_USDT"
BOOK = "/v3/public/orderbook"
Book = dict[Decimal, Decimal]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def apply(bids: Book, asks: Book, data: Json) -> None:
    """A delta applied the reference way: set each price's size, 0 deletes (no truncation, so
    a level leaving the window must be deleted explicitly for the book to stay exact)."""
    for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
        for price, size in levels:
            if Decimal(size) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = Decimal(size)


def truth_of(sim: WooXSimulator, symbol: str, depth: int, rpi: bool, at: int) -> tuple[Book, Book]:
    book = sim.book(symbol, depth, rpi, at)
    return (
        {Decimal(p): Decimal(s) for p, s in book.bids},
        {Decimal(p): Decimal(s) for p, s in book.asks},
    )


# ------------------------------------------------------------------------------ the model


@settings(max_examples=12, deadline=None)
@given(
    symbol=st.sampled_from([BTC, "SPOT_WOO_USDT", "PERP_0G_USDT", "SPOT_1INCH_USDT"]),
    rpi=st.booleans(),
    depth_period=st.sampled_from([(50, 50), (200, 100), (500, 200), (10, 200), (1, 0)]),
    seed=st.integers(0, 2**32),
)
def test_replayed_views_equal_the_book_at_every_publication(
    symbol: str, rpi: bool, depth_period: tuple[int, int], seed: int
) -> None:
    """Deltas applied to a plain dict (no truncation) give the true top-``depth`` book at every
    ``ts``; ``prevTs`` chains them; a REST snapshot at any window end carries the last ``ts``."""
    sim = WooXSimulator(clock=MarketClock(NOW, 0))
    book = sim.models.book(symbol)
    depth, period = depth_period
    rng = random.Random(seed)
    start = NOW + rng.randrange(0, 3_600_000) // max(period, 1) * max(period, 1)
    last = last_publication(book, rpi, depth, period, start) if period else start
    tape = ViewTape(book, rpi, depth, period, start, last)
    top_bids, top_asks = book.top(start, depth, rpi)  # prices in ticks, sizes in units
    bids = {Decimal(p): Decimal(s) for p, s in top_bids}
    asks = {Decimal(p): Decimal(s) for p, s in top_asks}
    to, chain, published = start, last, 0
    for _ in range(40):
        to += rng.randrange(1, 700)
        for p in tape.advance(to):
            published += 1
            if period:
                assert p.prev_ts == chain and p.at - period < p.ts <= p.at
                if published % 4 == 1:
                    assert last_publication(book, rpi, depth, period, p.at) == p.ts
            chain = p.ts
            data = {
                "bids": [(str(a), str(b)) for a, b in p.bids],
                "asks": [(str(a), str(b)) for a, b in p.asks],
            }
            apply(bids, asks, data)
            tb, ta = book.top(p.ts, depth, rpi)
            assert sorted(bids.items(), reverse=True) == [(Decimal(a), Decimal(b)) for a, b in tb]
            assert sorted(asks.items()) == [(Decimal(a), Decimal(b)) for a, b in ta]
            assert p.bids == sorted(p.bids, reverse=True) and p.asks == sorted(p.asks)
    assert published > 0 or symbol != BTC


def test_the_rpi_book_is_the_plain_book_plus_rpi_orders_inside_its_spread() -> None:
    sim = WooXSimulator(clock=MarketClock(NOW, 0))
    for at in range(NOW, NOW + 60_000, 997):
        plain, rpi = sim.book(BTC, 500, False, at), sim.book(BTC, 500, True, at)
        plain_bids = {Decimal(p): Decimal(s) for p, s in plain.bids}
        extra = 0
        for p, s in rpi.bids:
            assert Decimal(s) >= plain_bids.get(Decimal(p), Decimal(0))
            extra += Decimal(s) > plain_bids.get(Decimal(p), Decimal(0))
        assert Decimal(rpi.bids[0][0]) >= Decimal(plain.bids[0][0])
        assert Decimal(rpi.asks[0][0]) <= Decimal(plain.asks[0][0])
        assert Decimal(rpi.bids[0][0]) < Decimal(rpi.asks[0][0])  # never crossed
        assert extra <= 8
    assert len(plain.bids) == 500  # BTC has about 600 levels a side: depth 500 has an edge


def test_a_level_leaving_the_window_is_deleted_while_it_stays_in_the_book() -> None:
    sim = WooXSimulator(clock=MarketClock(NOW, 0))
    book = sim.models.book(BTC)
    tape = ViewTape(book, False, 50, 50, NOW, last_publication(book, False, 50, 50, NOW))
    edge_deletes = edge_inserts = 0
    for p in tape.advance(NOW + 30_000):
        deeper = dict(book.top(p.ts, 500, False)[0])
        for price, size in p.bids:
            if size == 0 and deeper.get(price):
                edge_deletes += 1  # still in the book, only beyond the 50th level now
            if size and price == p.view_bids[-1][0]:
                edge_inserts += 1
    assert edge_deletes > 0 and edge_inserts > 0


# ------------------------------------------------------------------------------ WebSocket


async def test_book_topics_acked_and_refused_like_woo_x(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        good = [
            f"orderbookupdate@{BTC}@50",
            f"orderbookupdate@{BTC}@200",
            f"orderbookupdate@{BTC}@500",
            f"orderbookupdaterpi@{BTC}@50",
            "orderbookupdate@SPOT_BTC_USDT@50",
            f"orderbook10@{BTC}",
            f"bbo@{BTC}",
            f"bborpi@{BTC}",
        ]
        ack = await command(ws, "SUBSCRIBE", *good)
        assert ack["data"] == good
        bad = [
            f"orderbookupdate@{BTC}@20",
            f"orderbookupdate@{BTC}@100",
            f"orderbookupdate@{BTC}",
            "orderbookupdate@PERP_NOPE_USDT@50",
            f"orderbook10@{BTC}@10",
            f"orderbook@{BTC}",
            "bbo@PERP_NOPE_USDT",
        ]
        ack = await command(ws, "SUBSCRIBE", *bad, cid="2")
        assert (ack["success"], ack["data"]) == (True, [])


@pytest.mark.parametrize(("depth", "rpi"), [(50, False), (200, True), (500, False)])
async def test_the_documented_recipe_keeps_an_exact_book(
    session: aiohttp.ClientSession, depth: int, rpi: bool
) -> None:
    """Subscribe, buffer, seed from REST (``maxLevel`` = depth, ``rpi`` matching), start at the
    delta whose ``prevTs`` is the snapshot's ``timestamp``, then follow the chain: the book equals
    the truth after every delta, compared number by number."""
    topic = f"orderbookupdate{'rpi' if rpi else ''}@{BTC}@{depth}"
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", topic)
        sim.clock.advance(1_000)  # BTC's best levels change every second: a delta per step
        deltas = await collect(ws, lambda p: len(p) >= 1)
        status, body = await get_json(
            session, sim, BOOK, symbol=BTC, maxLevel=depth, rpi=str(rpi).lower()
        )
        assert status == 200
        stamp = body["timestamp"]
        bids = {Decimal(r["price"]): Decimal(r["quantity"]) for r in body["data"]["bids"]}
        asks = {Decimal(r["price"]): Decimal(r["quantity"]) for r in body["data"]["asks"]}
        assert (bids, asks) == truth_of(sim, BTC, depth, rpi, stamp)
        for _ in range(40):
            sim.clock.advance(1_000)
            deltas += await collect(
                ws, lambda p: bool(p) and p[-1]["data"]["ts"] > stamp, within=10
            )
            if len(deltas) > 30:
                break
    applied = 0
    last = stamp
    for frame in deltas:
        d = frame["data"]
        assert set(d) == {"s", "prevTs", "ts", "bids", "asks"} and frame["ts"] >= d["ts"]
        if d["ts"] <= stamp:
            continue  # before the snapshot: dropped
        assert d["prevTs"] == last, "the chain holds on an undisturbed connection"
        apply(bids, asks, d)
        last = d["ts"]
        applied += 1
        assert (bids, asks) == truth_of(sim, BTC, depth, rpi, d["ts"])
        assert len(bids) <= depth and len(asks) <= depth
    assert applied >= 5


async def test_bbo_is_the_touch_of_its_book_on_every_change(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", f"bbo@{BTC}", f"bborpi@{BTC}")
        pushes: list[Json] = []
        for _ in range(20):
            sim.clock.advance(1_000)  # the plain touch changes every second (its best level)
            pushes += await collect(ws, lambda p: bool(p) and p[-1]["data"]["ts"] > 0)
            if len({p["topic"] for p in pushes}) == 2 and len(pushes) > 20:
                break
    for frame in pushes:
        d = frame["data"]
        assert set(d) == {"s", "ap", "aq", "bp", "bq", "ts"}
        truth = sim.bbo(BTC, frame["topic"].startswith("bborpi"), d["ts"])
        assert (d["bp"], d["bq"], d["ap"], d["aq"]) == (
            truth.bid_price,
            truth.bid_size,
            truth.ask_price,
            truth.ask_size,
        )
        assert Decimal(d["bp"]) < Decimal(d["ap"])
    by_topic = {
        t: [p["data"] for p in pushes if p["topic"] == t] for t in (f"bbo@{BTC}", f"bborpi@{BTC}")
    }
    for datas in by_topic.values():
        assert datas and all(a != b for a, b in itertools.pairwise(datas))


async def test_orderbook10_is_the_rpi_books_top_ten(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", f"orderbook10@{BTC}")
        sim.clock.advance(200)  # the first window end: a snapshot even without a change
        pushes = await collect(ws, lambda p: len(p) >= 1)
        for _ in range(10):
            sim.clock.advance(1_000)  # the top 10 change every second (the best levels)
            pushes += await collect(ws, lambda p: len(p) >= 1)
    for frame in pushes:
        d = frame["data"]
        assert set(d) == {"s", "ts", "bids", "asks"} and d["ts"] <= frame["ts"]
        assert len(d["bids"]) == len(d["asks"]) == 10
        book = sim.book(BTC, 10, True, d["ts"])
        assert [tuple(x) for x in d["bids"]] == list(book.bids)
        assert [tuple(x) for x in d["asks"]] == list(book.asks)


# ------------------------------------------------------------------------------ REST snapshot


async def test_snapshot_shape_and_timestamp_is_the_last_change(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, BOOK, symbol="SPOT_WOO_USDT")
        assert status == 200 and list(body) == ["success", "timestamp", "data"]
        data = body["data"]
        assert list(data) == ["asks", "bids"]
        assert all(set(r) == {"price", "quantity"} for r in data["asks"] + data["bids"])
        assert len(data["bids"]) == 100  # maxLevel defaults to 100
        bid_prices = [Decimal(r["price"]) for r in data["bids"]]
        ask_prices = [Decimal(r["price"]) for r in data["asks"]]
        assert bid_prices == sorted(bid_prices, reverse=True) and ask_prices == sorted(ask_prices)
        stamp = body["timestamp"]
        assert stamp < NOW  # the book's last change, not the server clock
        _, again = await get_json(session, sim, BOOK, symbol="SPOT_WOO_USDT")
        assert again == body  # nothing changed: the same book, the same timestamp
        book = sim.models.book("SPOT_WOO_USDT")
        assert stamp == last_publication(book, False, 100, 100, NOW // 200 * 200)
        _, rpi = await get_json(session, sim, BOOK, symbol="SPOT_WOO_USDT", rpi="true", maxLevel=5)
        assert len(rpi["data"]["bids"]) == 5
        assert Decimal(rpi["data"]["bids"][0]["price"]) >= bid_prices[0]


async def test_snapshot_errors(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, BOOK, symbol="PERP_NOPE_USDT")
        assert (status, body) == (
            400,
            {"success": False, "message": "invalid symbol PERP_NOPE_USDT"},
        )
        status, body = await get_json(session, sim, BOOK, symbol=BTC, maxLevel="abc")
        assert (status, body["code"]) == (500, -1000)
        for bad in ({"maxLevel": 0}, {"rpi": "maybe"}, {}):
            status, body = await get_json(
                session, sim, BOOK, **({"symbol": BTC} | bad if bad else {})
            )
            assert (status, body["code"]) == (400, -1005)


# ------------------------------------------------------------------------------ faults


async def test_a_lost_delta_breaks_the_chain_on_one_connection_only(
    session: aiohttp.ClientSession,
) -> None:
    topic = f"orderbookupdate@{BTC}@50"
    async with (
        frozen(NOW) as sim,
        session.ws_connect(sim.ws_url) as one,
        session.ws_connect(sim.ws_url) as two,
    ):
        await command(one, "SUBSCRIBE", topic)
        await command(two, "SUBSCRIBE", topic)
        sim.clock.advance(1_000)  # BTC's best levels change every second: a delta per step
        first = [await collect(ws, lambda p: len(p) >= 1) for ws in (one, two)]
        sim.lose_book_deltas(1, topic)
        sim.clock.advance(3_000)
        more = [
            await collect(ws, lambda p: bool(p) and p[-1]["data"]["ts"] > NOW + 2_000)
            for ws in (one, two)
        ]
    chains = [f + m for f, m in zip(first, more, strict=True)]
    breaks = [
        sum(a["data"]["ts"] != b["data"]["prevTs"] for a, b in itertools.pairwise(c))
        for c in chains
    ]
    assert sorted(breaks) == [0, 1]
    assert sim.stats.book_deltas_lost == 1


async def test_a_lagging_snapshot_serves_an_older_book_with_its_older_timestamp(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim:
        _, current = await get_json(session, sim, BOOK, symbol=BTC, maxLevel=50)
        sim.lag_book_snapshots(20_000, seconds=0.5)
        _, lagging = await get_json(session, sim, BOOK, symbol=BTC, maxLevel=50)
        assert lagging["timestamp"] <= NOW - 20_000 < current["timestamp"]
        older = sim.book(BTC, 50, False, lagging["timestamp"])
        assert [(r["price"], r["quantity"]) for r in lagging["data"]["bids"]] == list(older.bids)
        assert lagging["data"] != current["data"]
        await asyncio_sleep_until_lag_ends(sim)
        _, again = await get_json(session, sim, BOOK, symbol=BTC, maxLevel=50)
        assert again == current


async def asyncio_sleep_until_lag_ends(sim: WooXSimulator) -> None:
    from _sim_helpers import eventually

    await eventually(lambda: sim.faults.snapshot_lag_ms() == 0, within=5)
