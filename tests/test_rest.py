"""The pure parts of rest: history window planning (by property) and the rate budget's slots."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal

import aiohttp
import pytest
from _rest_server import DAY_MS, OddExchange, row, serve
from _rest_sim import DAY, HOUR, MINUTE, assert_polite, client_for, collect, same_digits, truth
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import (
    ExchangeError,
    HistoryRequest,
    InvalidRequest,
    MarketKind,
    RateLimited,
    UnknownSymbol,
)
from woox_datasource.rest import RateBudget, RestClient, plan_windows
from woox_datasource.simulator import WooXSimulator
from woox_datasource.timeframes import (
    TIMEFRAMES,
    Timeframe,
    count_opens,
    next_open,
    opens,
    parse_interval,
)

HISTORY = [tf for tf in TIMEFRAMES if tf.history]
YEAR_2200 = 7_258_118_400_000


@settings(max_examples=300)
@given(
    tf=st.sampled_from(HISTORY),
    start=st.integers(min_value=0, max_value=YEAR_2200),
    span=st.integers(min_value=1, max_value=4_000_000_000),
    max_candles=st.sampled_from([1, 7, 1000]),
)
def test_windows_tile_the_range_and_cover_each_open_once(
    tf: Timeframe, start: int, span: int, max_candles: int
) -> None:
    if tf.interval * max_candles < 30_000:  # keep the minute cases to a few thousand windows
        span //= 50
    end = start + max(span, 1)
    windows = plan_windows(tf, start, end, max_candles=max_candles)
    total = count_opens(tf, start, end)
    if not windows:
        assert total == 0
        assert not tf.anchor_assumed
        return
    # contiguous in time: no gap, no overlap, exactly [start, end)
    assert windows[0].start == start
    assert windows[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.start < w.end for w in windows)
    # every open in the range is in exactly one window, none holds more than max_candles
    assert all(0 <= w.count <= max_candles for w in windows)
    assert all(w.count == count_opens(tf, w.start, w.end) for w in windows)
    assert sum(w.count for w in windows) == total
    assert all(1 <= w.limit <= 1000 for w in windows)
    if total < 3000:
        listed = list(opens(tf, start, end))
        owners = [[w for w in windows if w.start <= o < w.end] for o in listed]
        assert all(len(o) == 1 for o in owners)


def test_small_ranges() -> None:
    minute = parse_interval("1m")
    week = parse_interval("1w")
    # a range inside one minute candle holds no open: nothing to ask
    assert plan_windows(minute, 60_001, 119_999) == []
    # weeks are anchored by assumption, so even an open-less range asks once (limit 1)
    (w,) = plan_windows(week, 5 * 86_400_000, 6 * 86_400_000)
    assert (w.count, w.limit) == (0, 1)
    assert [w.count for w in plan_windows(minute, 0, 2_500 * 60_000)] == [1000, 1000, 500]
    assert [w.limit for w in plan_windows(minute, 0, 2_500 * 60_000)] == [1000, 1000, 501]
    with pytest.raises(ValueError, match="max_candles"):
        plan_windows(minute, 0, 60_000, max_candles=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_keeps_a_sliding_window_with_margin() -> None:
    clock = FakeClock()
    budget = RateBudget(3, 1.0, 0.05, clock=clock)
    assert [budget.try_acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.05)]
    clock.now += 0.5
    assert budget.try_acquire() == pytest.approx(0.55)  # waiting does not reserve anything
    clock.now += 0.55
    assert budget.try_acquire() == 0.0
    assert budget.try_acquire() == 0.0
    assert budget.granted == 5
    clock.now += 0.02  # a grant taken late (busy loop) counts from when it really went out
    assert budget.try_acquire() == 0.0
    assert budget.try_acquire() == pytest.approx(1.03)


def test_budget_charge_counts_a_request_sent_behind_its_back() -> None:
    clock = FakeClock()
    budget = RateBudget(2, 1.0, 0.0, clock=clock)
    assert budget.try_acquire() == 0.0
    clock.now += 0.5
    budget.charge()  # a request aiohttp re-sent by itself takes a place in the window too
    assert budget.granted == 2
    assert budget.try_acquire() == pytest.approx(0.5)


def test_budget_rate_limit_pauses_widens_and_decays() -> None:
    clock = FakeClock()
    budget = RateBudget(2, 1.0, 0.01, penalty_s=0.2, half_life_s=10.0, clock=clock)
    assert budget.try_acquire() == 0.0
    budget.on_rate_limited()
    assert budget.rate_limited_count == 1
    assert budget.margin_s == pytest.approx(0.21)
    assert budget.try_acquire() == pytest.approx(1.0)  # paused for one window
    clock.now += 1.0
    assert budget.try_acquire() == 0.0
    assert budget.try_acquire() == pytest.approx(0.01 + 0.2 * 2**-0.1)  # wider, decaying
    clock.now += 10.0
    assert budget.margin_s == pytest.approx(0.01 + 0.2 * 2**-1.1)  # decays: half-life 10 s
    for _ in range(5):
        budget.on_rate_limited()
    assert budget.margin_s == pytest.approx(0.01 + 0.5)  # capped at max_margin_s


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        RateBudget(0)
    with pytest.raises(ValueError, match="per_seconds"):
        RateBudget(10, 0)


async def test_acquire_paces_real_time_and_waits_out_a_429_that_came_meanwhile() -> None:
    budget = RateBudget(2, 0.05, 0.0)
    begin = time.monotonic()
    await asyncio.gather(*(budget.acquire() for _ in range(4)))
    assert time.monotonic() - begin >= 0.05
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0)  # the waiter sleeps until the window has room ...
    budget.on_rate_limited()  # ... and must then also wait out the pause
    paused_at = time.monotonic()
    await waiter
    assert time.monotonic() - paused_at >= 0.05
    assert budget.granted == 5


# ---- paging against an exchange that does not match our assumptions --------------------------


def fast_budget() -> RateBudget:
    return RateBudget(1000, 1.0, 0.0)


async def test_weeks_anchored_on_thursday_shuffled_and_duplicated_lose_nothing() -> None:
    week = 7 * DAY_MS
    rows = [
        row("SPOT_BTC_USDT", "1w", k * week, (k + 1) * week, 100 + k) for k in range(2000, 2600)
    ]
    start, end = 2100 * week + 3 * DAY_MS, 2590 * week - DAY_MS  # neither on a Thursday
    async with (
        serve(OddExchange(rows, shuffle=True, duplicate=True)) as ex,
        aiohttp.ClientSession() as session,
    ):
        client = RestClient(session, ex.url, budget=fast_budget())
        got = await collect(client, HistoryRequest("spot_btc_usdt", 604800, start, end))
    expected = [r["startTimestamp"] for r in rows if start <= int(str(r["startTimestamp"])) < end]
    assert [c.open_time for c in got] == expected
    assert [c.open for c in got] == [Decimal(100 + k) for k in range(2101, 2590)]
    assert all("after" not in q for q in ex.queries)


async def test_thursday_week_in_an_openless_range_is_still_found() -> None:
    week = 7 * DAY_MS
    rows = [row("SPOT_BTC_USDT", "1w", k * week, (k + 1) * week) for k in range(2000, 2010)]
    # Tuesday..Friday: no Monday inside (our grid sees no candle), but a Thursday open is.
    start, end = 2003 * week + 5 * DAY_MS, 2004 * week + DAY_MS
    async with serve(OddExchange(rows)) as ex, aiohttp.ClientSession() as session:
        client = RestClient(session, ex.url, budget=fast_budget())
        got = await collect(client, HistoryRequest("SPOT_BTC_USDT", 604800, start, end))
    assert [c.open_time for c in got] == [2004 * week]


async def test_exchange_ignoring_the_cursor_cannot_make_us_loop() -> None:
    minute = 60_000
    base = 28_000_000
    rows = [row("PERP_ETH_USDT", "1m", (base + k) * minute, (base + k + 1) * minute)
            for k in range(3000)]  # fmt: skip
    async with (
        serve(OddExchange(rows, ignore_before=True)) as ex,
        aiohttp.ClientSession() as session,
    ):
        client = RestClient(session, ex.url, budget=fast_budget())
        request = HistoryRequest("PERP_ETH_USDT", 60, base * minute, (base + 1500) * minute)
        got = await asyncio.wait_for(collect(client, request), 10)
    # The server always answers with the newest 1000 rows, none of them in the range.
    assert got == []
    assert len(ex.queries) == 2  # one per window, no paging on a cursor that does not move


# ---- against the simulator: exact data, boundaries, calendars, listings, errors ---------------


def hour_floor(t: int) -> int:
    return t // HOUR * HOUR


async def test_many_windows_return_exactly_the_exchange_candles() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        end = hour_floor(sim.clock.now_ms()) - 3 * DAY
        start = end - 3_500 * MINUTE + 17_123  # mid-candle: that candle opened before start
        got = await collect(client, HistoryRequest("SPOT_BTC_USDT", 60, start, end))
        want = truth(sim, "SPOT_BTC_USDT", "1m", 60, start, end)
        assert len(want) == 3_499
        same_digits(got, want)
        assert all(b.open_time - a.open_time == MINUTE for a, b in itertools.pairwise(got))
        assert len(sim.requests) == 4  # 1000 + 1000 + 1000 + 499 candles
        assert_polite(sim)


async def test_boundaries_are_half_open() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        start = hour_floor(sim.clock.now_ms()) - 10 * DAY
        end = start + 5 * HOUR
        got = await collect(client, HistoryRequest("PERP_ETH_USDT", 3600, start, end))
        assert [c.open_time for c in got] == [start + k * HOUR for k in range(5)]
        same_digits(got, truth(sim, "PERP_ETH_USDT", "1h", 3600, start, end))
        one = await collect(client, HistoryRequest("PERP_ETH_USDT", 3600, end - 1, end + 1))
        assert [c.open_time for c in one] == [end]
        assert await client.fetch_range("PERP_ETH_USDT", 3600, start + 1, start + HOUR) == []
        assert_polite(sim)


@pytest.mark.parametrize(
    ("rest_type", "interval", "years"),
    [("1mon", 2_592_000, 9), ("1y", 31_536_000, 9), ("1w", 604_800, 9), ("1d", 86_400, 4)],
)
async def test_calendar_timeframes(rest_type: str, interval: int, years: int) -> None:
    listed = 1_262_304_000_000 + 9 * DAY  # 2010-01-10
    async with WooXSimulator(symbols={"SPOT_BTC_USDT": listed}) as sim, client_for(sim) as client:
        now = sim.clock.now_ms()
        start, end = now - years * 365 * DAY - 5 * DAY, now - 40 * DAY
        got = await collect(client, HistoryRequest("SPOT_BTC_USDT", interval, start, end))
        want = truth(sim, "SPOT_BTC_USDT", rest_type, interval, start, end)
        assert len(want) >= years - 1
        same_digits(got, want)
        tf = parse_interval(interval)
        assert [c.open_time for c in got] == [
            t for t in opens(tf, start, end) if t < got[-1].close_time
        ]
        assert all(c.close_time == next_open(tf, c.open_time) for c in got)
        assert_polite(sim)


async def test_symbol_listed_mid_range_yields_what_exists() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        listed = sim.symbols["PERP_2Z_USDT"]
        end = hour_floor(sim.clock.now_ms()) - HOUR
        start = listed - 5 * DAY  # 7 empty windows of minutes before the listing
        got = await collect(client, HistoryRequest("PERP_2Z_USDT", 60, start, end))
        want = truth(sim, "PERP_2Z_USDT", "1m", 60, start, end)
        assert want[0].open_time == listed
        same_digits(got, want)
        windows = len(plan_windows(parse_interval(60), start, end))
        assert len(sim.requests) == windows  # one request each: no paging into the void
        assert_polite(sim)


async def test_unknown_symbol_is_not_retried() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        now = sim.clock.now_ms()
        with pytest.raises(UnknownSymbol) as info:
            await collect(client, HistoryRequest("SPOT_NOPE_USDT", 3600, now - DAY, now))
        assert info.value.symbol == "SPOT_NOPE_USDT"
        assert len(sim.requests) == 1


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (HistoryRequest("BTC/USDT", 60, 0, 1), "ccxt's spelling"),
        (HistoryRequest("SPOT_BTC_USDT", 120, 0, 1), "unsupported interval 120"),
        (HistoryRequest("SPOT_BTC_USDT", 259200, 0, 1), "live only"),
    ],
)
async def test_bad_requests_fail_before_any_request(request_: HistoryRequest, message: str) -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        with pytest.raises(InvalidRequest, match=message):
            await collect(client, request_)
        assert sim.requests == []


async def test_list_markets() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:
        markets = {m.symbol: m for m in await client.list_markets()}
        assert set(markets) == set(sim.symbols)
        luna, btc, og = markets["SPOT_LUNA_USDT"], markets["PERP_BTC_USDT"], markets["PERP_0G_USDT"]
        assert (luna.active, luna.status) == (False, "SUSPENDED")
        assert (btc.kind, btc.base, btc.quote, btc.active) == (MarketKind.PERP, "BTC", "USDT", True)
        assert btc.price_tick == Decimal("0.1")
        assert og.base == "0G"


# ---- failures: retried within the budget, or a clear error; never a hang, never a leak --------


async def test_fault_burst_recovers_without_loss_and_within_the_limit() -> None:
    async with WooXSimulator() as sim, client_for(sim, backoff_base_s=0.05) as client:
        end = hour_floor(sim.clock.now_ms()) - DAY
        start = end - 8_000 * MINUTE
        faults = sim.faults
        faults.fail_next(4, status=429)
        faults.fail_next(3, status=500)
        faults.fail_next(2, kind="gateway")
        faults.fail_next(1, status=502)
        faults.fail_next(1, kind="disconnect")
        faults.fail_next(1, kind="truncated")
        faults.fail_next(3, status=429)
        got = await collect(client, HistoryRequest("SPOT_ETH_USDT", 60, start, end))
        same_digits(got, truth(sim, "SPOT_ETH_USDT", "1m", 60, start, end))
        assert [r.fault for r in sim.requests if r.fault].count("rate_limit") == 7
        assert len([r for r in sim.requests if r.fault]) == 15
        assert client.budget.rate_limited_count == 7
        assert len(sim.requests) == 8 + 15
        assert_polite(sim)


async def test_persistent_errors_end_in_a_clear_error() -> None:
    async with WooXSimulator() as sim, client_for(sim, retries=2, backoff_base_s=0.01) as client:
        end = hour_floor(sim.clock.now_ms())
        one_window = HistoryRequest("SPOT_BTC_USDT", 3600, end - DAY, end)
        sim.faults.fail_next(100, status=500)
        with pytest.raises(ExchangeError) as info:
            await collect(client, one_window)
        assert type(info.value) is ExchangeError
        assert info.value.retryable
        assert (info.value.code, info.value.status) == (-1000, 500)
        text = str(info.value)
        assert f"GET {sim.rest_url}/v3/public/klineHistory?symbol=SPOT_BTC_USDT" in text
        assert "failed after 3 attempts" in text and "internal error" in text
        # The full URL once, the exchange's code and status once: no echo of earlier wrappers.
        counts = (text.count("http://"), text.count("code -1000"), text.count("HTTP 500"))
        assert counts == (1, 1, 1)
        assert len(sim.requests) == 3

        sim.faults.clear()
        sim.faults.fail_next(100, kind="gateway")
        with pytest.raises(ExchangeError, match=r"after 3 attempts.*\[GW\] no upstream server"):
            await collect(client, one_window)

        sim.faults.clear()
        sim.faults.fail_next(100, status=429)
        with pytest.raises(RateLimited, match=r"after 3 attempts.*Rate limit exceed"):
            await collect(client, one_window)
        assert len(sim.requests) == 9
        assert_polite(sim)


async def test_timeouts_are_retried_then_reported() -> None:
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with WooXSimulator() as sim, client_for(sim, retries=1, timeout=timeout) as client:
        sim.faults.latency_s = 2.0
        end = hour_floor(sim.clock.now_ms())
        with pytest.raises(ExchangeError, match="failed after 2 attempts; last error: timed out"):
            await asyncio.wait_for(
                collect(client, HistoryRequest("SPOT_BTC_USDT", 3600, end - DAY, end)), 5
            )
        assert len(sim.requests) == 2


def window_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("woox-window")]


async def test_early_aclose_cancels_outstanding_windows() -> None:
    budget = RateBudget(1000, 1.0)
    async with (
        WooXSimulator(rate_limit=None) as sim,
        client_for(sim, budget=budget, max_concurrency=4) as client,
    ):
        sim.faults.latency_s = 0.1
        end = hour_floor(sim.clock.now_ms()) - DAY
        batches = client.fetch_history(HistoryRequest("SPOT_BTC_USDT", 60, end - 50 * DAY, end))
        first = await anext(batches)
        assert len(first) == 1000
        assert window_tasks()  # the next windows are in flight
        await batches.aclose()
        assert window_tasks() == []
        assert len(sim.requests) < 20  # of 72 windows
        with pytest.raises(StopAsyncIteration):
            await anext(batches)


async def test_cancelling_the_consumer_cancels_the_windows() -> None:
    async with WooXSimulator(rate_limit=None) as sim, client_for(sim) as client:
        sim.faults.latency_s = 5.0
        end = hour_floor(sim.clock.now_ms()) - DAY
        request = HistoryRequest("SPOT_BTC_USDT", 60, end - 10 * DAY, end)
        consumer = asyncio.create_task(collect(client, request))
        async with asyncio.timeout(5):
            while len(sim.requests) < 8:  # noqa: ASYNC110 - the first wave reached the server
                await asyncio.sleep(0.005)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert window_tasks() == []


async def test_a_forming_candle_is_not_history() -> None:
    hour = 3_600_000
    rows = [row("SPOT_BTC_USDT", "1h", k * hour, (k + 1) * hour) for k in range(480_000, 480_010)]
    forming_since = 480_009 * hour
    async with (
        serve(OddExchange(rows, server_ms=forming_since + 1_000)) as ex,
        aiohttp.ClientSession() as session,
    ):
        client = RestClient(session, ex.url, budget=fast_budget())
        got = await client.fetch_range("SPOT_BTC_USDT", 3600, 480_000 * hour, 480_010 * hour)
    assert [c.open_time for c in got] == [k * hour for k in range(480_000, 480_009)]
