"""The simulator's state channels: ``ticker`` (24 h rolling, consistent with the trades), mark and
index price, the funding estimate, open interest, and their REST counterparts (``futures``,
``fundingRate``, ``fundingRateHistory``), with the exchange's refusals and error bodies."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from _sim_helpers import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    Json,
    collect,
    command,
    eventually,
    frozen,
    get_json,
)

from woox_datasource.simulator import MarketClock, WooXSimulator

NOW = T0 + 30 * MINUTE + 7_250
BTC = "PERP_BTC_USDT"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def test_the_ticker_is_the_sum_of_the_last_24_hours_of_trades() -> None:
    symbol = "SPOT_LUNA_USDT"  # a quiet symbol: a day of its trades is a few thousand
    sim = WooXSimulator(clock=MarketClock(NOW, 0))
    for at in (NOW, NOW - 37 * MINUTE - 13_001, T0 + 3 * HOUR):
        second = at // 1000 * 1000
        trades = sim.trades(symbol, second - DAY + 1, second + 1)
        k = sim.ticker(symbol, at)
        prices = [Decimal(t.price) for t in trades]
        assert k.time == second and k.trades == len(trades) > 1_000
        assert (k.open, k.close) == (trades[0].price, trades[-1].price)
        assert (Decimal(k.high), Decimal(k.low)) == (max(prices), min(prices))
        assert Decimal(k.volume) == sum(Decimal(t.size) for t in trades)
        assert Decimal(k.amount) == sum(
            p * Decimal(t.size) for p, t in zip(prices, trades, strict=True)
        )
        assert k.last_trade_time == trades[-1].time


async def test_ticker_pushes_every_second_as_the_truth(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        topics = [f"ticker@{BTC}", "ticker@SPOT_ETH_USDT"]
        assert (await command(ws, "SUBSCRIBE", *topics))["data"] == topics
        pushes = await collect(ws, lambda p: len(p) >= 2)  # one each, for the current second
        for _ in range(3):
            sim.clock.advance(1_000)
            pushes += await collect(ws, lambda p: len(p) >= 2)
    assert len(pushes) == 8
    for frame in pushes:
        d = frame["data"]
        assert list(d) == ["s", "o", "c", "h", "l", "v", "a", "q", "u", "cnt", "ts", "tts"]
        k = sim.ticker(d["s"], d["ts"])
        assert (d["o"], d["c"], d["h"], d["l"], d["v"], d["a"], d["cnt"], d["tts"]) == (
            k.open,
            k.close,
            k.high,
            k.low,
            k.volume,
            k.amount,
            k.trades,
            k.last_trade_time,
        )
        assert d["ts"] % 1000 == 0 and d["ts"] <= frame["ts"] and d["tts"] <= d["ts"]
    assert sorted({p["data"]["ts"] for p in pushes}) == [
        NOW // 1000 * 1000 + k * 1000 for k in range(4)
    ]


async def test_mark_and_index_prices(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        good = [f"markprice@{BTC}", "indexprice@SPOT_BTC_USDT", "indexprice@SPOT_0G_USDT"]
        ack = await command(
            ws,
            "SUBSCRIBE",
            *good,
            "indexprice@PERP_BTC_USDT",
            "markprice@SPOT_BTC_USDT",
            "indexprice@SPOT_NOPE_USDT",
        )
        assert ack["data"] == good  # the index lives under SPOT_, even unlisted (0G: perp only)
        pushes = await collect(ws, lambda p: len(p) >= 3)
        sim.clock.advance(1_000)
        pushes += await collect(ws, lambda p: len(p) >= 3)
    trade = Decimal(sim.trades(BTC, NOW - MINUTE, NOW)[-1].price)
    for frame in pushes:
        d = frame["data"]
        assert list(d) == ["s", "px", "ts"] and d["ts"] % 1000 == 0
        if frame["topic"].startswith("mark"):
            assert d["px"] == sim.mark_price(BTC, d["ts"])
        else:
            assert d["px"] == sim.index_price(d["s"], d["ts"])
        if "BTC" in d["s"]:
            assert abs(Decimal(d["px"]) / trade - 1) < Decimal("0.005")  # near the trades
    assert sim.index_price(BTC, NOW) == sim.index_price("SPOT_BTC_USDT", NOW)


async def test_funding_estimate_every_minute(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        ack = await command(
            ws, "SUBSCRIBE", f"estfundingrate@{BTC}", "estfundingrate@SPOT_BTC_USDT"
        )
        assert ack["data"] == [f"estfundingrate@{BTC}"]
        pushes: list[Json] = []
        for _ in range(3):
            sim.clock.advance(MINUTE)
            pushes += await collect(ws, lambda p: len(p) >= 1)
    minutes = [p["data"]["ts"] for p in pushes]
    assert [b - a for a, b in itertools.pairwise(minutes)] == [MINUTE, MINUTE]
    for frame in pushes:
        d = frame["data"]
        assert list(d) == ["s", "r", "ft", "ts"]
        f = sim.funding(BTC, d["ts"])
        assert (d["r"], d["ft"], d["ts"]) == (f.rate, f.next_funding_time, f.time)
        assert d["ft"] % (8 * HOUR) == 0 and 0 < d["ft"] - d["ts"] <= 8 * HOUR
        assert abs(Decimal(d["r"])) < Decimal("0.001")


async def test_open_interest_on_change_and_every_ten_seconds(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        ack = await command(ws, "SUBSCRIBE", f"openinterest@{BTC}", "openinterest@SPOT_BTC_USDT")
        assert ack["data"] == [f"openinterest@{BTC}"]
        pushes: list[Json] = []
        for _ in range(30):
            sim.clock.advance(1_000)
            perp = sim.models.perp(BTC)
            assert perp is not None
            if perp.oi_push_due(sim.clock.now_ms() // 1000):
                pushes += await collect(ws, lambda p: len(p) >= 1)
    sent = [p["ts"] // 1000 for p in pushes]
    assert all(b - a <= 10 for a, b in itertools.pairwise(sent))
    changed = [p for p in pushes if p["data"]["ts"] == p["ts"] // 1000 * 1000]
    forced = [p for p in pushes if p["data"]["ts"] < p["ts"] // 1000 * 1000]
    assert changed and forced  # both kinds occurred in 30 s
    for frame in pushes:
        d = frame["data"]
        assert list(d) == ["s", "oi", "ts"]
        oi = sim.open_interest(BTC, frame["ts"])
        assert (d["oi"], d["ts"]) == (oi.open_interest, oi.time)
    for frame in forced:
        assert frame["ts"] // 1000 % 10 == 0


# ------------------------------------------------------------------------------ REST


async def test_futures_rows_equal_what_the_topics_pushed(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, "/v3/public/futures")
        assert status == 200 and body["timestamp"] == NOW
        rows = body["data"]["rows"]
        assert [r["symbol"] for r in rows] == [s for s in sim.symbols if s.startswith("PERP_")]
        second = NOW // 1000 * 1000
        for row in rows:
            symbol = row["symbol"]
            assert list(row) == [
                "symbol",
                "indexPrice",
                "markPrice",
                "estFundingRate",
                "lastFundingRate",
                "nextFundingTime",
                "openInterest",
                "24hOpen",
                "24hClose",
                "24hHigh",
                "24hLow",
                "24hVolume",
                "24hAmount",
            ]
            k = sim.ticker(symbol, second)
            assert (
                row["24hOpen"],
                row["24hClose"],
                row["24hHigh"],
                row["24hLow"],
                row["24hVolume"],
                row["24hAmount"],
            ) == (k.open, k.close, k.high, k.low, k.volume, k.amount)
            assert row["markPrice"] == sim.mark_price(symbol, second)
            assert row["indexPrice"] == sim.index_price(symbol, second)
            assert row["openInterest"] == sim.open_interest(symbol, second).open_interest
            assert row["estFundingRate"] == sim.funding(symbol, NOW).rate
            assert row["nextFundingTime"] == sim.funding(symbol, NOW).next_funding_time
            last = NOW // (8 * HOUR) * (8 * HOUR)
            assert row["lastFundingRate"] == sim.settlement(symbol, last).rate
        _, one = await get_json(session, sim, "/v3/public/futures", symbol=BTC)
        assert one["data"]["rows"] == [r for r in rows if r["symbol"] == BTC]
        for symbol in ("SPOT_BTC_USDT", "PERP_NOPE_USDT"):
            status, body = await get_json(session, sim, "/v3/public/futures", symbol=symbol)
            assert (status, body) == (
                500,
                {"success": False, "message": f"invalid symbol {symbol}"},
            )


async def test_funding_rate_and_its_history(session: aiohttp.ClientSession) -> None:
    async with frozen(NOW) as sim:
        status, body = await get_json(session, sim, "/v3/public/fundingRate", symbol=BTC)
        assert status == 200
        (row,) = body["data"]["rows"]
        f = sim.funding(BTC, NOW)
        last = NOW // (8 * HOUR) * (8 * HOUR)
        assert row == {
            "symbol": BTC,
            "estFundingRate": f.rate,
            "estFundingRateTimestamp": f.time,
            "lastFundingRate": sim.settlement(BTC, last).rate,
            "lastFundingRateTimestamp": last,
            "nextFundingTime": last + 8 * HOUR,
            "lastFundingIntervalHours": 8,
            "estFundingIntervalHours": 8,
        }
        _, every = await get_json(session, sim, "/v3/public/fundingRate")
        assert len(every["data"]["rows"]) == sum(s.startswith("PERP_") for s in sim.symbols)
        status, body = await get_json(
            session, sim, "/v3/public/fundingRate", symbol="SPOT_BTC_USDT"
        )
        assert (status, body["message"]) == (500, "no funding rate data for SPOT_BTC_USDT")

        history = "/v3/public/fundingRateHistory"
        _, first = await get_json(session, sim, history, symbol=BTC)
        rows, meta = first["data"]["rows"], first["data"]["meta"]
        assert len(rows) == 25 and meta["recordsPerPage"] == 25 and meta["currentPage"] == 1
        assert rows[0]["fundingRateTimestamp"] == last  # newest first
        for newer, older in itertools.pairwise(rows):
            assert older["nextFundingTime"] == newer["fundingRateTimestamp"]
        for r in rows:
            s = sim.settlement(BTC, r["fundingRateTimestamp"])
            assert (r["fundingRate"], r["markPrice"]) == (s.rate, s.mark_price)
        listed = sim.symbols[BTC]
        assert meta["total"] == (last - listed) // (8 * HOUR) + 1
        _, second = await get_json(session, sim, history, symbol=BTC, page=2, size=10)
        assert second["data"]["rows"][0]["fundingRateTimestamp"] == last - 10 * 8 * HOUR
        _, window = await get_json(
            session, sim, history, symbol=BTC, startTime=last - DAY, endTime=last - 1
        )
        times = [r["fundingRateTimestamp"] for r in window["data"]["rows"]]
        assert times == [last - 8 * HOUR, last - 16 * HOUR, last - DAY]
        assert window["data"]["meta"]["total"] == 3
        status, body = await get_json(session, sim, history, symbol="SPOT_BTC_USDT")
        assert (status, body["message"]) == (500, "no funding rate data for SPOT_BTC_USDT")
        status, body = await get_json(session, sim, history, symbol=BTC, page=0)
        assert (status, body["code"]) == (400, -1005)


# ------------------------------------------------------------------------------ faults


EXPECTED_KEYS = {
    "trade": {"s", "px", "sx", "sd", "src", "rpi", "ts"},
    "ticker": {"s", "o", "c", "h", "l", "v", "a", "q", "u", "cnt", "ts", "tts"},
    "bbo": {"s", "ap", "aq", "bp", "bq", "ts"},
    "orderbookupdate": {"s", "prevTs", "ts", "bids", "asks"},
    "markprice": {"s", "px", "ts"},
    "indexprice": {"s", "px", "ts"},
}


def _is_valid(text: str) -> bool:
    try:
        frame = json.loads(text)
    except ValueError:
        return False
    if not isinstance(frame, dict) or "SPOT_NOPE" in frame.get("topic", ""):
        return False
    data = frame["data"]
    if set(data) != EXPECTED_KEYS[frame["topic"].split("@")[0]]:
        return False
    return not any(isinstance(v, float) or v is None for v in data.values())


async def test_existing_faults_reach_every_channel(session: aiohttp.ClientSession) -> None:
    topics = [
        f"trade@{BTC}",
        f"ticker@{BTC}",
        f"bbo@{BTC}",
        f"orderbookupdate@{BTC}@50",
        f"markprice@{BTC}",
        "indexprice@SPOT_BTC_USDT",
    ]
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", *topics)
        await collect(ws, lambda p: {f["topic"] for f in p} >= {topics[1], topics[4], topics[5]})
        sim.inject_malformed(8, replace=True)
        sim.clock.advance(5_000)
        kinds: set[str] = set()
        async with asyncio.timeout(10):
            while sim.stats.malformed_sent < 8 or len(kinds) < 8:
                text = await ws.receive_str()
                if not _is_valid(text):
                    kinds.add(str(len(kinds)))
        assert sim.stats.pushes_lost == 8  # each malformed frame took a push's place
        sim.go_silent(30)
        lost = sim.stats.pushes_lost
        sim.clock.advance(3_000)  # trades, ticker, prices, book and bbo changes: all lost
        await eventually(lambda: sim.stats.pushes_lost >= lost + 10)
        sim.faults.clear()
        sim.clock.advance(1_000)
        after = await collect(ws, lambda p: bool(p) and p[-1]["ts"] == NOW + 9_000)
        assert not [f for f in after if f["ts"] == NOW + 8_000]  # lost, not held back
    async with frozen(NOW) as sim:
        sim.faults.fail_next(3, 500)
        for path in ("futures", "orderbook", "marketTrades"):
            status, body = await get_json(session, sim, f"/v3/public/{path}", symbol=BTC)
            assert (status, body["code"]) == (500, -1000)
        status, _ = await get_json(session, sim, "/v3/public/orderbook", symbol=BTC)
        assert status == 200


async def test_blast_sends_every_channels_real_pushes_stamped_with_send_time(
    session: aiohttp.ClientSession,
) -> None:
    topics = [f"trade@{BTC}", f"bbo@{BTC}", f"ticker@{BTC}", f"orderbookupdate@{BTC}@50",
              f"markprice@{BTC}"]  # fmt: skip
    async with frozen(NOW) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", *topics)
        await collect(ws, lambda p: {f["topic"] for f in p} >= {topics[2], topics[4]})
        reader = asyncio.ensure_future(collect(ws, lambda p: len(p) >= 200))
        report = await sim.blast(200, variants=4)
        frames = await reader
    assert report.messages == 200
    assert {f["topic"] for f in frames} == set(topics)
    wall = time.time() * 1000
    for frame in frames:
        assert wall - 10_000 < frame["ts"] <= wall
        assert set(frame["data"]) == EXPECTED_KEYS[frame["topic"].split("@")[0]]
        assert frame["data"]["ts"] > NOW  # the next real pushes, their own times kept
