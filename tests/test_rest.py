"""The pure parts of rest: history window planning (by property) and the rate budget's slots."""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import aclosing
from decimal import Decimal

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import OHLCV, HistoryRequest
from tests._rest_server import DAY_MS, OddExchange, row, serve
from woox_datasource.rest import RateBudget, RestClient, plan_windows
from woox_datasource.timeframes import TIMEFRAMES, Timeframe, count_opens, opens, parse_interval

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


def test_budget_slots_keep_a_sliding_window_with_margin() -> None:
    clock = FakeClock()
    budget = RateBudget(3, 1.0, 0.05, clock=clock)
    slots = [budget.reserve() for _ in range(7)]
    assert slots == pytest.approx([100, 100, 100, 101.05, 101.05, 101.05, 102.1])
    clock.now = 110.0
    assert budget.reserve() == pytest.approx(110.0)


def test_budget_rate_limit_pauses_widens_and_decays() -> None:
    clock = FakeClock()
    budget = RateBudget(2, 1.0, 0.01, penalty_s=0.2, half_life_s=10.0, clock=clock)
    budget.reserve()
    budget.on_rate_limited()
    assert budget.rate_limited_count == 1
    assert budget.margin_s == pytest.approx(0.21)
    assert budget.reserve() == pytest.approx(101.0)  # paused for one window
    assert budget.reserve() == pytest.approx(100 + 1.0 + 0.21)  # wider margin
    clock.now += 10.0
    assert budget.margin_s == pytest.approx(0.11)  # half the extra after one half-life
    budget.on_rate_limited()
    budget.on_rate_limited()
    budget.on_rate_limited()
    assert budget.margin_s == pytest.approx(0.01 + 0.5)  # capped at max_margin_s


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        RateBudget(0)
    with pytest.raises(ValueError, match="per_seconds"):
        RateBudget(10, 0)


async def test_acquire_paces_real_time_and_requeues_after_a_429() -> None:
    budget = RateBudget(2, 0.05, 0.0)
    begin = time.monotonic()
    await asyncio.gather(*(budget.acquire() for _ in range(4)))
    assert time.monotonic() - begin >= 0.05
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0)  # the waiter has reserved its slot and sleeps
    budget.on_rate_limited()  # ... and now must queue behind the pause instead
    await waiter
    assert time.monotonic() - begin >= 0.05 + 0.05


# ---- paging against an exchange that does not match our assumptions --------------------------


def fast_budget() -> RateBudget:
    return RateBudget(1000, 1.0, 0.0)


async def collect(client: RestClient, request: HistoryRequest) -> list[OHLCV]:
    out: list[OHLCV] = []
    async with aclosing(client.fetch_history(request)) as batches:
        async for batch in batches:
            assert batch, "empty batches are skipped"
            out.extend(batch)
    return out


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
