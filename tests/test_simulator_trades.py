"""The simulator's trades: consistent with its candles, pushed once each on ``trade@SYMBOL``, and
read back over ``marketTrades`` (a capped page) and ``marketTradesHistory`` (bounded)."""

from __future__ import annotations

import collections
import itertools
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import aiohttp
import pytest
from _sim_helpers import HOUR, MINUTE, T0, Json, collect, command, frozen, get_json
from hypothesis import given, settings
from hypothesis import strategies as st

from woox_datasource.simulator import MarketClock, WooXSimulator
from woox_datasource.simulator.restdata import MAX_TRADES_PAGE
from woox_datasource.simulator.trades import SimTrade

NOW = T0 + 30 * MINUTE + 7_000
BTC = "PERP_BTC_USDT"
TRADES = "/v3/public/marketTrades"
HISTORY = "/v3/public/marketTradesHistory"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def as_trade(row: Json) -> SimTrade:
    """A REST row as a truth record."""
    return SimTrade(
        row["symbol"],
        row["executedTimestamp"],
        row["executedPrice"],
        row["executedQuantity"],
        row["side"],
        row["source"],
        False,
    )


def key(t: SimTrade) -> tuple[object, ...]:
    return (t.time, t.price, t.size, t.side, t.source)


# ------------------------------------------------------------------------------ consistency


@settings(max_examples=40, deadline=None)
@given(
    symbol=st.sampled_from(
        ["PERP_BTC_USDT", "SPOT_1INCH_USDT", "PERP_0G_USDT", "SPOT_XYZ_USDT", "PERP_1000PEPE_USDT"]
    ),
    minute=st.integers(1_600_000_000_000 // MINUTE, 1_900_000_000_000 // MINUTE),
)
def test_a_minutes_trades_reproduce_its_1m_candle(symbol: str, minute: int) -> None:
    sim = WooXSimulator(symbols={symbol: 1_500_000_000_000}, clock=MarketClock(T0, 0))
    start = minute * MINUTE
    candle = sim.candle_at(symbol, "1m", start)
    trades = sim.trades(symbol, start, start + MINUTE)
    if candle.volume == "0":
        assert trades == [] and candle.amount == "0"
        return
    prices = [Decimal(t.price) for t in trades]
    assert (trades[0].price, trades[-1].price) == (candle.open, candle.close)
    assert max(prices) == Decimal(candle.high) and min(prices) == Decimal(candle.low)
    assert sum(Decimal(t.size) for t in trades) == Decimal(candle.volume)
    assert sum(p * Decimal(t.size) for p, t in zip(prices, trades, strict=True)) == Decimal(
        candle.amount
    )
    assert [t.time for t in trades] == sorted(t.time for t in trades)
    assert all(start <= t.time < start + MINUTE for t in trades)
    assert all(t.side in ("BUY", "SELL") and t.source in (0, 1) for t in trades)
    assert all(not t.rpi or t.source == 1 for t in trades)


def test_an_hour_of_trades_has_twins_externals_and_rpi_matches() -> None:
    sim = WooXSimulator(symbols={BTC: T0 - HOUR * 24 * 400}, clock=MarketClock(T0 + HOUR, 0))
    trades = sim.trades(BTC, T0, T0 + HOUR)
    assert 100 * 60 < len(trades) < 200 * 60  # about 150 a minute
    twins = [a for a, b in itertools.pairwise(trades) if a == b]
    assert twins, "identical trades in one millisecond must occur (a client keeps both)"
    assert {t.source for t in trades} == {0, 1}
    assert any(t.rpi for t in trades)
    hourly = sim.candle_at(BTC, "1h", T0)
    assert hourly.open == trades[0].price


def test_spot_and_perpetual_of_one_asset_trade_at_the_same_level() -> None:
    sim = WooXSimulator(
        symbols={BTC: 0, "SPOT_BTC_USDT": 0, "PERP_1000PEPE_USDT": 0, "SPOT_PEPE_USDT": 0},
        clock=MarketClock(T0, 0),
    )
    for perp, spot, units in (
        (BTC, "SPOT_BTC_USDT", 1),
        ("PERP_1000PEPE_USDT", "SPOT_PEPE_USDT", 1000),
    ):
        for day in range(0, 400, 37):
            at = T0 - day * 24 * HOUR
            p = Decimal(sim.candle_at(perp, "1h", at).open)
            s = Decimal(sim.candle_at(spot, "1h", at).open) * units
            assert abs(p / s - 1) < Decimal("0.005"), (perp, at, p, s)


# ------------------------------------------------------------------------------ trade@


async def test_trade_topic_pushes_every_trade_once_in_order(session: aiohttp.ClientSession) -> None:
    symbol = "PERP_ETH_USDT"
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        ack = await command(ws, "SUBSCRIBE", f"trade@{symbol}")
        assert ack["data"] == [f"trade@{symbol}"]
        got: list[Json] = []
        for step in (700, 3_000, 40_000, 1, 90_000):
            before = sim.clock.now_ms()
            sim.clock.advance(step)
            expected = len(sim.trades(symbol, before + 1, before + step + 1))
            got += await collect(ws, _at_least(expected))
        truth = sim.trades(symbol, NOW + 1, sim.clock.now_ms() + 1)
    assert len(truth) > 150
    assert [_pushed(f) for f in got] == truth
    for frame in got:
        assert set(frame) == {"topic", "ts", "data"} and frame["topic"] == f"trade@{symbol}"
        assert set(frame["data"]) == {"s", "px", "sx", "sd", "src", "rpi", "ts"}
        assert frame["ts"] >= frame["data"]["ts"]
        assert isinstance(frame["data"]["px"], str) and isinstance(frame["data"]["rpi"], bool)


def _at_least(n: int) -> Callable[[list[Json]], bool]:
    return lambda pushes: len(pushes) >= n


def _pushed(frame: Json) -> SimTrade:
    d = frame["data"]
    return SimTrade(d["s"], d["ts"], d["px"], d["sx"], d["sd"], d["src"], d["rpi"])


async def test_trade_topic_refuses_unknown_symbols(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        ack = await command(
            ws,
            "SUBSCRIBE",
            "trade@PERP_NOPE_USDT",
            "trade@perp_btc_usdt",
            "trade@PERP_BTC_USDT@1m",
            "trade",
        )
        assert (ack["success"], ack["data"]) == (True, [])


# ------------------------------------------------------------------------------ REST


async def test_market_trades_newest_first_capped_at_500(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, TRADES, symbol=BTC)
        assert status == 200 and body["timestamp"] == NOW
        rows = body["data"]["rows"]
        assert len(rows) == 10  # the default
        assert set(rows[0]) == {
            "symbol",
            "side",
            "source",
            "executedPrice",
            "executedQuantity",
            "executedTimestamp",
        }
        _, body = await get_json(session, sim, TRADES, symbol=BTC, limit=5_000)
        rows = body["data"]["rows"]
        assert len(rows) == MAX_TRADES_PAGE
        oldest = rows[-1]["executedTimestamp"]
        truth = sim.trades(BTC, oldest, NOW + 1)
        assert [key(as_trade(r)) for r in reversed(rows)] == [key(t) for t in truth][-500:]
        # 500 trades of a busy symbol span a few minutes: a longer outage cannot be read back
        assert NOW - oldest < 5 * MINUTE


async def test_market_trades_history_pages_without_splitting_a_millisecond(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim:
        recent = sim.trades(BTC, NOW - 2 * HOUR, NOW)
        twin = next(i for i, (a, b) in enumerate(itertools.pairwise(recent)) if a == b)
        limit = 137  # pages from the 137th trade before the twin: a boundary inside its ms
        start, end = recent[twin - limit + 1].time, recent[twin].time + 5 * MINUTE
        truth = sim.trades(BTC, start, end)
        pages: list[list[Json]] = []
        cursor = start
        while True:
            status, body = await get_json(
                session, sim, HISTORY, symbol=BTC, startTime=cursor, endTime=end, limit=limit
            )
            assert status == 200, body
            rows = body["data"]["rows"]
            if not rows:
                break
            assert len(rows) <= limit
            pages.append(rows)
            cursor = rows[-1]["executedTimestamp"] + 1
    got = [as_trade(r) for page in pages for r in page]
    assert [key(t) for t in got] == [key(t) for t in truth]
    for a, b in itertools.pairwise(pages):
        assert a[-1]["executedTimestamp"] < b[0]["executedTimestamp"]
    assert max(collections.Counter(key(t) for t in truth).values()) >= 2  # twins, both back
    assert any(len(p) < limit for p in pages[:-1])  # a page ended early rather than split a ms


async def test_market_trades_history_serves_a_first_millisecond_bigger_than_a_page_whole(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim:
        recent = sim.trades(BTC, NOW - 2 * HOUR, NOW)
        busy_ms = next(a.time for a, b in itertools.pairwise(recent) if a.time == b.time)
        busy = [key(t) for t in recent if t.time == busy_ms]
        status, body = await get_json(
            session, sim, HISTORY, symbol=BTC, startTime=busy_ms, endTime=NOW, limit=1
        )
        assert status == 200, body
        assert [key(as_trade(r)) for r in body["data"]["rows"]] == busy  # not an empty page
        status, body = await get_json(
            session, sim, HISTORY, symbol=BTC, startTime=busy_ms + 1, endTime=NOW, limit=1
        )
        after = next(t for t in recent if t.time > busy_ms)
        assert [key(as_trade(r)) for r in body["data"]["rows"]] == [key(after)]  # paging goes on


async def test_market_trades_history_reads_its_page_size_from_limit(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim:
        pages = {}
        for name in ("limit", "size"):
            status, body = await get_json(
                session, sim, HISTORY, symbol=BTC, startTime=NOW - HOUR, endTime=NOW, **{name: 7}
            )
            assert status == 200, body
            pages[name] = body["data"]["rows"]
    assert 0 < len(pages["limit"]) <= 7
    assert len(pages["size"]) > 7  # ``size`` is not this simulator's reading: the default page
    assert pages["size"][: len(pages["limit"])] == pages["limit"]


async def test_market_trades_history_keeps_only_its_retention(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW, trade_history_ms=HOUR) as sim:
        status, body = await get_json(session, sim, HISTORY, symbol=BTC, startTime=NOW - HOUR)
        assert status == 200 and body["data"]["rows"]
        status, body = await get_json(session, sim, HISTORY, symbol=BTC, startTime=NOW - HOUR - 1)
        assert status == 400 and body["success"] is False and body["code"] == -1005
        assert str(NOW - HOUR) in body["message"]


@pytest.mark.parametrize("path", [TRADES, HISTORY])
async def test_trade_endpoints_answer_woo_x_errors(
    session: aiohttp.ClientSession, path: str
) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, path, symbol="PERP_NOPE_USDT")
        assert (status, body) == (
            400,
            {"success": False, "message": "invalid symbol PERP_NOPE_USDT"},
        )
        status, body = await get_json(session, sim, path)
        assert (status, body["code"]) == (400, -1005)
        status, body = await get_json(session, sim, path, symbol=BTC, limit="abc")
        assert (status, body["code"]) == (500, -1000)
        status, body = await get_json(session, sim, path, symbol=BTC, limit=0)
        assert (status, body["code"]) == (400, -1005)
