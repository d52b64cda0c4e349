"""The venue-size symbol set: 313 instruments like WOO X's, served lazily.

At the size of the whole venue the simulator must not become the bottleneck of a benchmark: it
computes only for subscribed topics, and a connection's pusher wakes when one of its feeds is due
(once per market second for candles), not on a fixed timer."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import aiohttp
from _sim_helpers import MINUTE, T0, command, eventually, get_json, recv

from woox_datasource.simulator import WS_TYPES, MarketClock, WooXSimulator, venue_symbols
from woox_datasource.simulator.venue import LAST_LISTING_MS


def test_venue_has_woo_x_shape() -> None:
    venue = venue_symbols()
    kinds = Counter((s.split("_")[0], s.split("_")[2]) for s in venue)
    assert kinds == {("PERP", "USDT"): 223, ("SPOT", "USDT"): 88, ("SPOT", "USDC"): 2}
    assert len(venue) == 313 == len({s.upper() for s in venue})
    for symbol in ("SPOT_1INCH_USDT", "PERP_1INCH_USDT", "PERP_0G_USDT", "PERP_2Z_USDT"):
        assert symbol in venue
    for symbol in ("SPOT_BTC_USDT", "PERP_BTC_USDT", "PERP_ETH_USDT", "SPOT_WOO_USDT"):
        assert venue[symbol] == 1_609_459_200_000
    assert all(1_609_459_200_000 <= ms < LAST_LISTING_MS and ms % 3_600_000 == 0
               for ms in venue.values())  # fmt: skip
    assert len(set(venue.values())) > 250  # listings spread out, not one instant
    assert venue_symbols() == venue  # deterministic
    assert list(venue) == sorted(venue)


async def test_simulator_lists_and_serves_the_venue() -> None:
    clock = MarketClock(T0 + 30 * MINUTE, speed=0)
    async with (
        WooXSimulator(symbols=venue_symbols(), clock=clock, rate_limit=None) as sim,
        aiohttp.ClientSession() as session,
    ):
        status, body = await get_json(session, sim, "/v3/public/instruments")
        assert status == 200
        rows = body["data"]["rows"]
        assert [r["symbol"] for r in rows] == list(venue_symbols())
        assert {r["status"] for r in rows} == {"TRADING"}
        assert all("fundingIntervalHours" in r for r in rows if r["symbol"].startswith("PERP_"))
        status, body = await get_json(
            session, sim, "/v3/public/klineHistory", symbol="PERP_1000PEPE_USDT", type="1h"
        )
        assert status == 200 and len(body["data"]["rows"]) == 100


async def test_a_venue_connection_wakes_once_per_market_second_not_per_timer() -> None:
    """100 kline topics on one connection at 1x: one pull per topic per market second (the forming
    candles' pushes), and no wake-up at all while the frozen market has nothing due."""
    clock = MarketClock(T0 + 30 * MINUTE + 500, speed=0)
    symbols = [s for s in venue_symbols() if s.startswith("PERP_")][:8]
    topics = [f"kline@{s}@{t}" for s in symbols for t in WS_TYPES][:100]
    async with (
        WooXSimulator(symbols=venue_symbols(), clock=clock, push_interval_s=0.01) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.ws_url) as ws,
    ):
        for k in range(10):
            ack = await command(ws, "SUBSCRIBE", *topics[10 * k : 10 * k + 10], cid=str(k))
            assert ack["data"] == topics[10 * k : 10 * k + 10]
        await eventually(lambda: sim.stats.feed_pulls >= 100)
        await asyncio.sleep(0.3)  # 30 timer periods: a timer-driven pusher would pull 3,000 times
        assert sim.stats.feed_pulls == 100
        clock.advance(1_000)  # a new market second: every topic is due once
        await eventually(lambda: sim.stats.feed_pulls == 200)
        await asyncio.sleep(0.1)
        assert sim.stats.feed_pulls == 200
        frame = await recv(ws)
        while frame.get("topic") is None or frame["ts"] != T0 + 30 * MINUTE + 1_500:
            frame = await recv(ws)  # acks and the first second's pushes
        assert frame["topic"] in topics


async def test_module_entry_point_serves_the_venue() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "woox_datasource.simulator", "--port", "0", "--venue",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            rest = (await process.stdout.readline()).decode().split()
            await process.stdout.readline()
            info = (await process.stdout.readline()).decode()
        assert "symbols: 313 (venue size)" in info
        async with (
            aiohttp.ClientSession() as session,
            session.get(rest[1] + "/v3/public/instruments") as response,
        ):
            assert len((await response.json())["data"]["rows"]) == 313
    finally:
        process.terminate()
        async with asyncio.timeout(30):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def test_warm_up_computes_the_24_hour_windows_ahead() -> None:
    clock = MarketClock(T0 + 30 * MINUTE + 500, speed=0)
    async with WooXSimulator(symbols=venue_symbols(), clock=clock) as sim:
        chosen = ["PERP_0G_USDT", "SPOT_WOO_USDT", "PERP_1000PEPE_USDT"]
        second = clock.now_ms() // 1000 * 1000
        assert all(sim.models.day(s).cold_hours(second) for s in chosen)
        await sim.warm_up(chosen)
        assert not any(sim.models.day(s).cold_hours(second) for s in chosen)
        assert sim.models.day("PERP_BTC_USDT").cold_hours(second)  # only those asked for
