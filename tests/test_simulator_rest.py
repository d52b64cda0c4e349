"""The simulator's REST side, over real sockets: it must answer like WOO X v3 (woox-api.md §1-§3).

Also the ground truth it serves: calendar alignment (checked against ``datetime``), continuity of
the deterministic candles, and that the simulator never borrows the plugin's code."""

from __future__ import annotations

import ast
import asyncio
import datetime
import itertools
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from _sim_helpers import DAY, HOUR, MINUTE, T0, get, get_json, history, row_of
from hypothesis import given, settings
from hypothesis import strategies as st

from woox_datasource.simulator import REST_TYPES, MarketClock, WooXSimulator
from woox_datasource.simulator.intervals import INTERVALS, interval

NOW = T0 + 30 * MINUTE + 7_000  # 10:30:07, market clock frozen there
BTC = "SPOT_BTC_USDT"
NEW = "PERP_NEW_USDT"
NEW_LISTED = T0 - 10 * HOUR
SYMBOLS = {BTC: T0 - 400 * DAY, "PERP_ETH_USDT": T0 - 400 * DAY, NEW: NEW_LISTED}
HISTORY = "/v3/public/klineHistory"


@pytest.fixture
async def sim() -> AsyncIterator[WooXSimulator]:
    async with WooXSimulator(
        symbols=SYMBOLS, clock=MarketClock(NOW, speed=0), rate_limit=None
    ) as simulator:
        yield simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# ------------------------------------------------------------------------------ klineHistory


async def test_rows_have_the_exchange_shape(sim: WooXSimulator, session: aiohttp.ClientSession
                                            ) -> None:  # fmt: skip
    status, body = await get_json(session, sim, HISTORY, symbol=BTC, type="1h", limit=3)
    assert status == 200
    assert set(body) == {"success", "data", "timestamp"}
    assert body["timestamp"] == NOW
    rows = body["data"]["rows"]
    assert len(rows) == 3
    for row in rows:
        assert list(row) == [
            "symbol", "open", "close", "high", "low", "volume", "amount", "type",
            "startTimestamp", "endTimestamp",
        ]  # fmt: skip
        assert all(isinstance(row[k], str) for k in ("open", "close", "high", "low", "volume"))
        assert isinstance(row["amount"], str)
        assert type(row["startTimestamp"]) is int
        assert row["endTimestamp"] - row["startTimestamp"] == HOUR
        assert (row["symbol"], row["type"]) == (BTC, "1h")
        prices = [Decimal(row[k]) for k in ("open", "close", "high", "low")]
        assert Decimal(row["low"]) == min(prices) and Decimal(row["high"]) == max(prices)


async def test_without_cursor_newest_closed_candles_newest_first(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    rows = await history(session, sim, symbol=BTC, type="1m", limit=5)
    starts = [r["startTimestamp"] for r in rows]
    last_closed = NOW // MINUTE * MINUTE - MINUTE  # 10:29, the 10:30 candle is still open
    assert starts == [last_closed - k * MINUTE for k in range(5)]
    assert rows == [row_of(c) for c in reversed(sim.candles(BTC, "1m", starts[-1], NOW))][1:]


async def test_limit_defaults_to_100_and_is_clamped_to_1000(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    assert len(await history(session, sim, symbol=BTC, type="1m")) == 100
    assert len(await history(session, sim, symbol=BTC, type="1m", limit=1000)) == 1000
    assert len(await history(session, sim, symbol=BTC, type="1m", limit=5000)) == 1000
    for bad in (0, -3):
        status, body = await get_json(session, sim, HISTORY, symbol=BTC, type="1m", limit=bad)
        assert status == 400
        assert body["code"] == -1005


async def test_before_is_exclusive_and_returns_the_newest_page_below_it(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    cursor = T0 - 5 * HOUR
    rows = await history(session, sim, symbol=BTC, type="1h", before=cursor, limit=4)
    assert [r["startTimestamp"] for r in rows] == [cursor - k * HOUR for k in range(1, 5)]
    again = await history(session, sim, symbol=BTC, type="1h", before=cursor, limit=4)
    assert again == rows  # served from the page cache the second time
    other = await history(session, sim, symbol="PERP_ETH_USDT", type="1h", before=cursor, limit=4)
    assert {r["symbol"] for r in other} == {"PERP_ETH_USDT"}
    misaligned = await history(session, sim, symbol=BTC, type="1h", before=cursor + 1, limit=4)
    assert misaligned[0]["startTimestamp"] == cursor  # start < before, and cursor < cursor + 1
    assert rows == [row_of(c) for c in reversed(sim.candles(BTC, "1h", cursor - 4 * HOUR, cursor))]


async def test_after_is_exclusive_and_returns_the_page_right_after_it(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    cursor = T0 - 50 * HOUR
    rows = await history(session, sim, symbol=BTC, type="1h", after=cursor, limit=3)
    assert [r["startTimestamp"] for r in rows] == [cursor + k * HOUR for k in (3, 2, 1)]
    ccxt_style = await history(session, sim, symbol=BTC, type="1h", after=cursor - 1, limit=3)
    assert ccxt_style[-1]["startTimestamp"] == cursor


async def test_before_wins_when_both_cursors_are_given(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    before, after = T0 - 2 * HOUR, T0 - 100 * HOUR
    both = await history(session, sim, symbol=BTC, type="1h", before=before, after=after, limit=5)
    only_before = await history(session, sim, symbol=BTC, type="1h", before=before, limit=5)
    assert both == only_before
    assert both[0]["startTimestamp"] == before - HOUR


async def test_only_closed_candles_even_with_a_future_cursor(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    for type_ in REST_TYPES:
        rows = await history(session, sim, symbol=BTC, type=type_, before=NOW + 400 * DAY, limit=2)
        assert rows, type_
        assert (
            rows[0]["endTimestamp"]
            <= NOW
            < rows[0]["endTimestamp"] + interval(type_).length_ms + 31 * DAY
        )
        assert await history(session, sim, symbol=BTC, type=type_, after=NOW) == []


async def test_nothing_before_the_listing_time(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    rows = await history(session, sim, symbol=NEW, type="1h", limit=1000)
    assert [r["startTimestamp"] for r in rows][-1] == NEW_LISTED
    assert len(rows) == 10  # 00:00 .. 09:00, the 10:00 candle has not closed at 10:30
    assert await history(session, sim, symbol=NEW, type="1h", before=NEW_LISTED) == []
    first_page = await history(session, sim, symbol=NEW, type="1h", after=0, limit=2)
    assert [r["startTimestamp"] for r in first_page] == [NEW_LISTED + HOUR, NEW_LISTED]
    assert sim.candles(NEW, "1h", 0, NOW)[0].start_ms == NEW_LISTED
    with pytest.raises(ValueError, match="listed"):
        sim.candle_at(NEW, "1h", NEW_LISTED - HOUR)


async def test_a_year_of_minutes_pages_back_without_gaps(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    """Backward paging the way the plugin does it: min(start) becomes the next ``before``."""
    cursor, seen, pages = NOW, 0, 0
    started = time.perf_counter()
    while pages < 30:
        rows = await history(session, sim, symbol=BTC, type="1m", before=cursor, limit=1000)
        starts = [r["startTimestamp"] for r in rows]
        assert starts == sorted(starts, reverse=True)
        assert starts[0] == cursor // MINUTE * MINUTE - MINUTE or cursor % MINUTE == 0
        assert starts[0] - starts[-1] == 999 * MINUTE
        seen += len(rows)
        cursor, pages = starts[-1], pages + 1
    assert seen == 30_000
    assert time.perf_counter() - started < 30  # generous: the point is O(1) per candle


# ------------------------------------------------------------------------------ errors


async def test_unknown_symbol_answers_400_without_code(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    status, text = await get(session, sim, HISTORY, symbol="SPOT_NOPE_USDT", type="1m")
    assert (status, text) == (400, '{"success":false,"message":"invalid symbol SPOT_NOPE_USDT"}')
    status, text = await get(session, sim, HISTORY, symbol="spot_btc_usdt", type="1m")
    assert status == 400 and "invalid symbol spot_btc_usdt" in text


@pytest.mark.parametrize(
    "params", [{"type": "1m"}, {"symbol": BTC}, {}, {"symbol": "", "type": "1m"}]
)
async def test_missing_parameter_is_invalid_request(
    sim: WooXSimulator, session: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, text = await get(session, sim, HISTORY, **params)
    assert status == 400
    assert text == (
        '{"success":false,"code":-1005,"error_code":90000,'
        '"message":"invalid request, please check your request"}'
    )


@pytest.mark.parametrize("bad_type", ["1M", "3d", "2m", "1H", "1mo"])
async def test_type_outside_the_rest_spellings_is_refused(
    sim: WooXSimulator, session: aiohttp.ClientSession, bad_type: str
) -> None:
    status, body = await get_json(session, sim, HISTORY, symbol=BTC, type=bad_type)
    assert status == 400
    assert body["success"] is False and body["code"] == -1005
    assert "1mon" in body["message"]


@pytest.mark.parametrize("param", ["before", "after", "limit"])
@pytest.mark.parametrize("value", ["abc", "1.5", "", "1e3", "99999999999999999999"])
async def test_malformed_number_is_an_internal_error(
    sim: WooXSimulator, session: aiohttp.ClientSession, param: str, value: str
) -> None:
    status, body = await get_json(session, sim, HISTORY, symbol=BTC, type="1m", **{param: value})
    assert status == 500
    assert set(body) == {"success", "code", "message"}
    assert body["success"] is False and body["code"] == -1000
    assert body["message"].startswith("The server encountered an internal error, request id: ")


@pytest.mark.parametrize("path", ["/v3/public/nope", "/v3/private/x", "/v3/public", "/v3"])
async def test_unknown_path_is_a_gateway_answer_with_http_200(
    sim: WooXSimulator, session: aiohttp.ClientSession, path: str
) -> None:
    assert await get(session, sim, path) == (
        200,
        '{"code":503,"message":"[GW] no upstream server"}',
    )


# ------------------------------------------------------------------------------ other endpoints


async def test_latest_klines_include_the_forming_candle(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    status, body = await get_json(session, sim, "/v3/public/kline", symbol=BTC, type="1m", limit=3)
    assert status == 200
    rows = body["data"]["rows"]
    forming = NOW // MINUTE * MINUTE
    assert [r["startTimestamp"] for r in rows] == [forming, forming - MINUTE, forming - 2 * MINUTE]
    assert rows[0] == row_of(sim.provisional(BTC, "1m", forming, NOW))
    assert rows[1:] == [row_of(sim.candle_at(BTC, "1m", r["startTimestamp"])) for r in rows[1:]]
    assert (
        len(
            (await get_json(session, sim, "/v3/public/kline", symbol=BTC, type="1h"))[1]["data"][
                "rows"
            ]
        )
        == 100
    )


async def test_instruments_rows(session: aiohttp.ClientSession) -> None:
    async with WooXSimulator(clock=MarketClock(NOW, 0)) as sim:
        status, body = await get_json(session, sim, "/v3/public/instruments")
    assert status == 200 and body["success"] is True and body["timestamp"] == NOW
    rows = {r["symbol"]: r for r in body["data"]["rows"]}
    assert {"SPOT_BTC_USDT", "PERP_BTC_USDT", "SPOT_1INCH_USDT", "PERP_0G_USDT"} <= set(rows)
    assert rows["SPOT_LUNA_USDT"]["status"] == "SUSPENDED"
    assert rows["SPOT_BTC_USDT"]["status"] == "TRADING"
    spot, perp = rows["SPOT_BTC_USDT"], rows["PERP_BTC_USDT"]
    assert (spot["baseAsset"], spot["quoteAsset"], spot["baseAssetMultiplier"]) == (
        "BTC",
        "USDT",
        1,
    )
    assert spot["quoteTick"] == "0.01" and spot["baseTick"] == "0.000001"
    assert spot["bidFloorRatio"] is None and spot["isAllowedRpi"] is False
    for key in ("quoteMin", "quoteMax", "baseMin", "baseMax", "minNotional"):
        assert isinstance(spot[key], str)
        Decimal(spot[key])
    assert "fundingIntervalHours" not in spot
    assert isinstance(perp["fundingIntervalHours"], int)
    assert {"fundingCap", "fundingFloor", "baseIMR", "baseMMR"} <= set(perp)
    recent = rows["PERP_2Z_USDT"]
    assert recent["status"] == "TRADING"
    assert sim.symbols["PERP_2Z_USDT"] == (NOW - 36 * HOUR) // HOUR * HOUR


async def test_system_info(sim: WooXSimulator, session: aiohttp.ClientSession) -> None:
    status, text = await get(session, sim, "/v3/public/systemInfo")
    assert status == 200
    assert json.loads(text) == {
        "success": True,
        "data": {"status": 0, "msg": "System is functioning properly."},
        "timestamp": NOW,
    }


# ------------------------------------------------------------------------------ rate limit


async def test_rate_limit_429_after_10_in_a_window_then_recovers(session: aiohttp.ClientSession
                                                                ) -> None:  # fmt: skip
    async with WooXSimulator(clock=MarketClock(NOW, 0), rate_limit=10, rate_window_s=0.5) as sim:
        path = "/v3/public/systemInfo"
        answers = await asyncio.gather(*(get(session, sim, path) for _ in range(10)))
        assert [status for status, _ in answers] == [200] * 10
        status, text = await get(session, sim, path)
        assert (status, text) == (
            429,
            '{"success":false,"code":-1003,"message":"Rate limit exceed."}',
        )
        assert [r.rate_limited for r in sim.requests] == [False] * 10 + [True]
        assert sim.requests[-1].status == 429
        # The window slides: once the oldest arrival is 0.5 s old, one slot frees up.
        oldest = min(r.time for r in sim.requests)
        await asyncio.sleep(max(0.0, oldest + 0.5 - time.monotonic()) + 0.01)
        assert (await get(session, sim, path))[0] == 200


async def test_rate_limit_is_per_client_ip() -> None:
    async with WooXSimulator(clock=MarketClock(NOW, 0), rate_limit=2, rate_window_s=60) as sim:
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with (
            aiohttp.ClientSession() as one,
            aiohttp.ClientSession(connector=connector) as two,
        ):
            statuses = [(await get(one, sim, "/v3/public/systemInfo"))[0] for _ in range(3)]
            assert statuses == [200, 200, 429]
            assert (await get(two, sim, "/v3/public/systemInfo"))[0] == 200
        assert {r.remote for r in sim.requests} == {"127.0.0.1", "127.0.0.2"}


# ------------------------------------------------------------------------------ faults


async def test_fail_next_answers_each_documented_error_in_order(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    sim.faults.fail_next(2, 500)
    sim.faults.fail_next(1, 429)
    sim.faults.fail_next(1, kind="gateway")
    sim.faults.fail_next(1, 502)
    sim.faults.fail_next(1, kind="truncated")
    answers = [await get(session, sim, HISTORY, symbol=BTC, type="1m", limit=1) for _ in range(7)]
    statuses = [status for status, _ in answers]
    assert statuses == [500, 500, 429, 200, 502, 200, 200]
    assert json.loads(answers[0][1])["code"] == -1000
    assert answers[2][1] == '{"success":false,"code":-1003,"message":"Rate limit exceed."}'
    assert answers[3][1] == '{"code":503,"message":"[GW] no upstream server"}'
    assert "502 Bad Gateway" in answers[4][1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(answers[5][1])
    assert json.loads(answers[6][1])["success"] is True
    faults = [r.fault for r in sim.requests]
    assert faults == ["internal", "internal", "rate_limit", "gateway", "http", "truncated", None]
    assert not any(r.rate_limited for r in sim.requests)


async def test_disconnect_fault_drops_the_connection_without_answer(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    # aiohttp retries an idempotent request once when the connection drops before any answer,
    # so two injected disconnects make one call fail.
    sim.faults.fail_next(2, kind="disconnect")
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, sim, "/v3/public/systemInfo")
    assert (await get(session, sim, "/v3/public/systemInfo"))[0] == 200
    assert [(r.fault, r.status) for r in sim.requests] == [("disconnect", 0)] * 2 + [(None, 200)]


def test_fail_next_rejects_nonsense() -> None:
    sim = WooXSimulator(symbols=SYMBOLS)
    with pytest.raises(ValueError, match="kind"):
        sim.faults.fail_next(1, kind="explode")
    with pytest.raises(ValueError, match="n >= 0"):
        sim.faults.fail_next(-1)
    with pytest.raises(ValueError, match=r"400\.\.599"):
        sim.faults.fail_next(1, 302)


async def test_latency_is_added_after_arrival_is_recorded(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    sim.faults.latency_s = 0.3
    sent = time.monotonic()
    status, _ = await get(session, sim, "/v3/public/systemInfo")
    answered = time.monotonic()
    assert status == 200
    assert answered - sent >= 0.3
    arrival = sim.requests[-1].time
    assert arrival - sent < answered - arrival  # recorded on arrival, long before the answer


async def test_requests_are_recorded_with_query_and_status(
    sim: WooXSimulator, session: aiohttp.ClientSession
) -> None:
    await get(session, sim, HISTORY, symbol=BTC, type="1h", before=T0, limit=7)
    await get(session, sim, HISTORY, symbol="X", type="1h")
    first, second = sim.requests
    assert first.path == HISTORY and first.query == {
        "symbol": BTC, "type": "1h", "before": str(T0), "limit": "7",
    }  # fmt: skip
    assert (first.status, second.status) == (200, 400)
    assert first.remote == "127.0.0.1" and first.market_ms == NOW


# ------------------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None)
@given(
    type_=st.sampled_from(REST_TYPES),
    cursor=st.integers(T0 - 3000 * DAY, NOW + 10 * DAY),
    use_after=st.booleans(),
    limit=st.integers(1, 1000),
)
async def test_cursor_pages_match_the_ground_truth(
    type_: str, cursor: int, use_after: bool, limit: int
) -> None:
    symbols = {BTC: T0 - 2000 * DAY}
    async with (
        WooXSimulator(symbols=symbols, clock=MarketClock(NOW, 0), rate_limit=None) as sim,
        aiohttp.ClientSession() as session,
    ):
        key = "after" if use_after else "before"
        rows = await history(session, sim, symbol=BTC, type=type_, limit=limit, **{key: cursor})
    span = int((limit + 2) * interval(type_).length_ms * 1.05)  # months/years vary in length
    if use_after:
        # the first candle is the one the listing falls in; nothing older exists
        first = max(cursor + 1, sim.symbols[BTC] - 2 * interval(type_).length_ms)
        window = sim.candles(BTC, type_, first, min(first + span, NOW))
        expected = [c for c in window if c.end_ms <= NOW][:limit]
    else:
        end = min(cursor, NOW)
        window = sim.candles(BTC, type_, max(0, end - span), end)
        expected = [c for c in window if c.end_ms <= NOW][-limit:]
    assert rows == [row_of(c) for c in reversed(expected)]


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(INTERVALS)), ms=st.integers(0, 4_102_444_800_000))
def test_alignment_matches_the_calendar(name: str, ms: int) -> None:
    iv = INTERVALS[name]
    start = iv.floor(ms)
    end = iv.start_of(iv.index_of(ms) + 1)
    assert start <= ms < end
    opened = datetime.datetime.fromtimestamp(start / 1000, datetime.UTC)
    if name == "1w":
        assert opened.weekday() == 0 and end - start == 7 * DAY
    elif name == "1mon":
        assert opened.day == 1 and opened.time() == datetime.time()
        closed = datetime.datetime.fromtimestamp(end / 1000, datetime.UTC)
        assert closed.day == 1 and (closed.month - opened.month) % 12 == 1
    elif name == "1y":
        assert (opened.month, opened.day, opened.time()) == (1, 1, datetime.time())
        assert datetime.datetime.fromtimestamp(end / 1000, datetime.UTC).year == opened.year + 1
    else:
        assert start % iv.length_ms == 0 and end - start == iv.length_ms


@settings(max_examples=60, deadline=None)
@given(
    symbol=st.sampled_from(["SPOT_BTC_USDT", "SPOT_1INCH_USDT", "PERP_0G_USDT", "SPOT_XYZ_USDT"]),
    name=st.sampled_from(sorted(INTERVALS)),
    at=st.integers(1_600_000_000_000, 1_900_000_000_000),
)
def test_candles_are_continuous_consistent_and_provisional_states_converge(
    symbol: str, name: str, at: int
) -> None:
    sim = WooXSimulator(symbols={symbol: 1_500_000_000_000}, seed=7)
    iv = INTERVALS[name]
    start = iv.floor(at)
    candles = sim.candles(symbol, name, start, start + 3 * iv.length_ms + 3 * DAY)[:3]
    for a, b in itertools.pairwise(candles):
        assert a.end_ms == b.start_ms and a.close == b.open
    for c in candles:
        o, h, lo, cl, v, amt = (
            Decimal(x) for x in (c.open, c.high, c.low, c.close, c.volume, c.amount)
        )
        assert lo <= min(o, cl) <= max(o, cl) <= h and lo > 0
        assert (v == 0) == (amt == 0)
        if v == 0:
            assert o == h == lo == cl
        for text in (c.open, c.high, c.low, c.close, c.volume, c.amount):
            assert "e" not in text.lower() and (
                text == "0" or not text.endswith("0") or "." not in text
            )
        assert sim.candle_at(symbol, name, c.start_ms) == c
    first = candles[0]
    middle = min(max(at, first.start_ms + 1), first.end_ms)
    times = (first.start_ms + 1, middle, first.end_ms)
    states = [sim.provisional(symbol, name, first.start_ms, t) for t in times]
    assert states[-1] == first
    for a, b in itertools.pairwise(states):
        assert Decimal(a.volume) <= Decimal(b.volume)
        assert Decimal(a.high) <= Decimal(b.high) and Decimal(a.low) >= Decimal(b.low)
        assert a.open == b.open == first.open


def test_same_seed_same_candles_other_seed_other_candles() -> None:
    symbols = {BTC: T0 - 100 * DAY}
    one, two = WooXSimulator(symbols=symbols), WooXSimulator(symbols=symbols)
    other = WooXSimulator(symbols=symbols, seed=1)
    assert one.candles(BTC, "5m", T0, T0 + HOUR) == two.candles(BTC, "5m", T0, T0 + HOUR)
    assert one.candles(BTC, "5m", T0, T0 + HOUR) != other.candles(BTC, "5m", T0, T0 + HOUR)
    assert one.candles(BTC, "1M", T0, T0 + 40 * DAY) == one.candles(BTC, "1mon", T0, T0 + 40 * DAY)


def test_prices_stay_realistic_and_some_candles_have_no_trades() -> None:
    sim = WooXSimulator(symbols={BTC: T0 - 800 * DAY, "SPOT_1INCH_USDT": T0 - 800 * DAY})
    months = sim.candles(BTC, "1mon", T0 - 700 * DAY, T0)
    assert all(Decimal(c.low) > 55_000 and Decimal(c.high) < 130_000 for c in months)
    minutes = sim.candles("SPOT_1INCH_USDT", "1m", T0, T0 + DAY)
    zero = [c for c in minutes if c.volume == "0"]
    assert 0 < len(zero) < len(minutes) // 2
    assert all(c.amount == "0" and c.open == c.close == c.high == c.low for c in zero)


def test_market_clock_speed_changes_keep_time_continuous() -> None:
    clock = MarketClock(T0, speed=0)
    assert clock.now_ms() == T0
    clock.advance(5 * MINUTE)
    assert clock.now_ms() == T0 + 5 * MINUTE
    clock.speed = 1000.0
    before = clock.now_ms()
    clock.speed = 0.0
    after = clock.now_ms()
    assert T0 + 5 * MINUTE <= before <= after < T0 + 5 * MINUTE + 60_000
    assert clock.real_seconds_until(after + 1) == float("inf")
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="speed"):
        clock.speed = -1.0


def test_bad_configuration_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="WOO X form"):
        WooXSimulator(symbols={"BTC_USDT": 0})
    with pytest.raises(ValueError, match="clock or speed"):
        WooXSimulator(clock=MarketClock(T0), speed=60)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        WooXSimulator(idle_timeout_s=0)
    with pytest.raises(ValueError, match="not listed"):
        WooXSimulator(symbols={BTC: 0}, suspended=["SPOT_LUNA_USDT"])
    with pytest.raises(RuntimeError, match="start"):
        _ = WooXSimulator().rest_url


# ------------------------------------------------------------------------------ independence

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "woox_datasource" / "simulator"
FORBIDDEN = ("wire", "timeframes", "rest", "stream", "plugin", "settings", "manifest")


def test_simulator_sources_import_only_stdlib_aiohttp_attrs_and_themselves() -> None:
    allowed_third_party = {"aiohttp", "attrs"}
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level > 0:
                    continue  # relative: inside the simulator package
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or top in allowed_third_party
                assert ok, f"{path.name} imports {name}"


def test_importing_the_simulator_loads_no_plugin_or_host_module() -> None:
    probe = (
        "import sys, woox_datasource; base = set(sys.modules);"
        "import woox_datasource.simulator, woox_datasource.simulator.__main__;"
        "print('\\n'.join(sorted(set(sys.modules) - base)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parents[1],
        timeout=60,
    ).stdout.split()
    assert "woox_datasource.simulator" in out
    ours = [m for m in out if m.startswith(("woox_datasource", "host_stub"))]
    assert all(m.startswith("woox_datasource.simulator") for m in ours), ours
    assert not [m for m in out if m.split(".")[-1] in FORBIDDEN and "simulator" not in m]


async def test_module_entry_point_prints_urls_and_serves() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "woox_datasource.simulator", "--port", "0", "--speed", "60",
        cwd=PACKAGE.parents[1], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            rest = (await process.stdout.readline()).decode().split()
            ws = (await process.stdout.readline()).decode().split()
        assert rest[0] == "REST" and rest[1].startswith("http://127.0.0.1:")
        assert ws[0] == "WS" and ws[1] == rest[1].replace("http", "ws") + "/v3/public"
        async with aiohttp.ClientSession() as session:
            async with session.get(rest[1] + "/v3/public/systemInfo") as response:
                assert (await response.json())["data"]["status"] == 0
            async with session.ws_connect(ws[1]) as conn:
                await conn.send_json({"cmd": "PING", "ts": 1})
                assert (await conn.receive_json(timeout=5))["cmd"] == "PONG"
    finally:
        process.terminate()
        async with asyncio.timeout(30):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
