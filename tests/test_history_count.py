"""History by count: the latest N, N before a time, the first N from a time; exact against the
simulator (and against a small exchange with holes and forming candles), requests counted."""

from __future__ import annotations

import itertools
import math

import aiohttp
import pytest
from _rest_server import OddExchange, row, serve
from _rest_sim import DAY, HOUR, MINUTE, client_for, collect, same_digits, truth
from hypothesis import given
from hypothesis import strategies as st

from host_stub.spec import OHLCV, HistoryRequest, InvalidRequest
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.simulator import MarketClock, WooXSimulator

CLOCK_START = 1_764_000_000_000 + 17 * MINUTE + 23_456
"""2025-11-24T16:17:23.456Z: mid-minute, so the simulator always has a candle forming."""

TIMEFRAMES = [("1m", 60), ("1h", 3600), ("1d", 86400), ("1w", 604800), ("1mon", 2592000),
              ("1y", 31536000)]  # fmt: skip
COUNTS = [1, 999, 1000, 1001, 2500]
RECENT = "PERP_2Z_USDT"  # listed 36 h before the simulator's clock start


def frozen_sim() -> WooXSimulator:
    """Market time stands still, so the truth cannot move between fetching and checking; no rate
    limit, so the test runs at loopback speed (politeness is checked elsewhere)."""
    return WooXSimulator(clock=MarketClock(CLOCK_START, speed=0), rate_limit=None)


def fast_budget() -> RateBudget:
    return RateBudget(1000, 1.0, 0.0)


def closed_truth(sim: WooXSimulator, symbol: str, rest_type: str, interval: int) -> list[OHLCV]:
    """The simulator's closed candles of the last 5000 intervals (enough for every N, offset)."""
    now = sim.clock.now_ms()
    return truth(sim, symbol, rest_type, interval, max(0, now - 5000 * interval * 1000), now + 1)


def budget_of(n: int) -> int:
    return math.ceil(n / 1000) + 1


# ---- the request's forms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "none of start, end, limit"),
        ({"start": 0}, "got start"),
        ({"end": 10}, "got end"),
        ({"start": 0, "end": 10, "limit": 5}, "got start + end + limit"),
        ({"limit": 0}, "limit must be a positive number of candles, got 0"),
        ({"limit": -3, "end": 10}, "limit must be a positive number of candles, got -3"),
        ({"limit": True}, "limit must be an integer, got True"),
        ({"limit": 5, "end": -1}, "end must be epoch milliseconds >= 0, got -1"),
        ({"start": 10, "end": 10}, "empty range"),
        ({"start": 11, "end": 10}, "reversed range"),
    ],
)
def test_every_other_combination_is_refused_by_name(fields: dict[str, int], named: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        HistoryRequest("SPOT_BTC_USDT", 60, **fields)
    assert named in str(info.value)


@given(
    start=st.none() | st.integers(0, 2**41),
    end=st.none() | st.integers(0, 2**41),
    limit=st.none() | st.integers(-5, 5000),
)
def test_exactly_the_three_forms_are_accepted(
    start: int | None, end: int | None, limit: int | None
) -> None:
    valid = (
        (limit is None and start is not None and end is not None and start < end)
        or (limit is not None and limit > 0 and start is None)
        or (limit is not None and limit > 0 and end is None and start is not None)
    ) and not any(10**9 <= t < 10**11 for t in (start, end) if t is not None)  # epoch seconds
    if valid:
        request = HistoryRequest("SPOT_BTC_USDT", 60, start, end, limit)
        assert (request.start, request.end, request.limit) == (start, end, limit)
    else:
        with pytest.raises(InvalidRequest):
            HistoryRequest("SPOT_BTC_USDT", 60, start, end, limit)


# ---- the latest N, against the simulator -------------------------------------------------------


@pytest.mark.parametrize(("rest_type", "interval"), TIMEFRAMES)
@pytest.mark.parametrize("symbol", ["SPOT_BTC_USDT", RECENT])
async def test_latest_n_is_exact_in_few_requests(
    rest_type: str, interval: int, symbol: str
) -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        every = closed_truth(sim, symbol, rest_type, interval)
        since = every[-1].close_time if every else 0
        forming = sim.candles(symbol, rest_type, since, sim.clock.now_ms() + 1)
        assert len(forming) == 1  # the exchange has a candle forming: it must never be returned
        for n in COUNTS:
            sim.requests.clear()
            got = await collect(client, HistoryRequest(symbol, interval, limit=n))
            same_digits(got, every[-n:])
            assert len(got) == min(n, len(every))
            assert len(sim.requests) <= budget_of(n), (n, [r.query for r in sim.requests])
            assert all("after" not in r.query for r in sim.requests)
        if symbol == RECENT:
            assert len(every) < 2500  # the listing really cut the count short


@pytest.mark.parametrize(("rest_type", "interval"), [("1m", 60), ("1h", 3600), ("1mon", 2592000)])
async def test_n_before_a_time_is_exact(rest_type: str, interval: int) -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        every = closed_truth(sim, "PERP_ETH_USDT", rest_type, interval)
        for n, back in itertools.product([1, 1000, 1001, 2500], [1, 7, 1500]):
            cut = every[-min(back, len(every))]
            end = cut.open_time + 1  # mid-candle: the candle opening before end is included
            want = [c for c in every if c.open_time < end][-n:]
            sim.requests.clear()
            got = await collect(client, HistoryRequest("PERP_ETH_USDT", interval, end=end, limit=n))
            same_digits(got, want)
            assert len(sim.requests) <= budget_of(n)


async def test_n_before_the_listing_is_empty_after_one_request() -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        listed = sim.symbols[RECENT]
        got = await collect(client, HistoryRequest(RECENT, 60, end=listed, limit=500))
        assert got == []
        assert len(sim.requests) == 1


async def test_latest_n_through_the_rate_limit() -> None:
    async with WooXSimulator() as sim, client_for(sim) as client:  # 10 requests/s, clock running
        got = await collect(client, HistoryRequest("SPOT_ETH_USDT", 60, limit=12_345))
        assert len(got) == 12_345
        assert all(b.open_time - a.open_time == MINUTE for a, b in itertools.pairwise(got))
        assert got[-1].close_time <= sim.clock.now_ms()
        # (a 429 under a loaded machine would be retried, and counted here)
        assert len([r for r in sim.requests if not r.rate_limited]) <= budget_of(12_345)
        assert all("after" not in r.query for r in sim.requests)


# ---- the first N from a time, against the simulator --------------------------------------------


@pytest.mark.parametrize(("rest_type", "interval"), TIMEFRAMES)
async def test_first_n_from_a_time_is_exact(rest_type: str, interval: int) -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        every = closed_truth(sim, "PERP_BTC_USDT", rest_type, interval)
        for n in COUNTS:
            for first in {0, max(0, len(every) - 3000), max(0, len(every) - 600), len(every) - 1}:
                start = every[first].open_time - 1  # the candle before it opened before start
                want = [c for c in every if c.open_time >= start][:n]
                got = await collect(client, HistoryRequest("PERP_BTC_USDT", interval, start=start, limit=n))  # fmt: skip # noqa: E501
                same_digits(got, want)


async def test_first_n_long_before_a_listing_finds_it_by_bisection() -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        listed = sim.symbols[RECENT]
        start = listed - 3 * 365 * DAY  # three years of minutes with no candle
        got = await collect(client, HistoryRequest(RECENT, 60, start=start, limit=1500))
        same_digits(got, truth(sim, RECENT, "1m", 60, listed, listed + 1500 * MINUTE))
        # walking the void would take ~1600 requests; bisection needs a few dozen
        assert len(sim.requests) < 40


async def test_first_n_from_now_or_later_is_empty() -> None:
    async with frozen_sim() as sim, client_for(sim, budget=fast_budget()) as client:
        now = sim.clock.now_ms()
        assert await collect(client, HistoryRequest("SPOT_BTC_USDT", 3600, start=now, limit=10)) == []  # fmt: skip # noqa: E501
        later = HistoryRequest("SPOT_BTC_USDT", 60, start=now + 30 * DAY, limit=10)
        assert await collect(client, later) == []


# ---- an exchange with holes and forming candles -------------------------------------------------


def hourly(ks: list[int]) -> list[dict[str, object]]:
    return [row("SPOT_BTC_USDT", "1h", k * HOUR, (k + 1) * HOUR, 100 + k % 1000) for k in ks]


BASE = 480_000  # hour number: 2024-10-04


async def fetch(ex: OddExchange, request: HistoryRequest) -> list[OHLCV]:
    async with aiohttp.ClientSession() as session:
        return await collect(RestClient(session, ex.url, budget=fast_budget()), request)


async def test_latest_n_across_holes_and_a_forming_candle() -> None:
    ks = [*range(BASE, BASE + 1500), *range(BASE + 3000, BASE + 3010), *range(BASE + 9000, BASE + 9700)]  # fmt: skip # noqa: E501
    forming = (BASE + 9699) * HOUR + 60_000  # the newest row is still forming
    async with serve(OddExchange(hourly(ks), server_ms=forming)) as ex:
        got = await fetch(ex, HistoryRequest("SPOT_BTC_USDT", 3600, limit=2000))
        want = [k * HOUR for k in ks[:-1]][-2000:]
        assert [c.open_time for c in got] == want
        assert all(c.close_time <= forming for c in got)
        assert all("after" not in q for q in ex.queries)
        assert len(ex.queries) <= 6  # grid windows over the holes, then one page jumps each


async def test_latest_n_where_the_exchange_has_fewer_returns_all() -> None:
    ks = [*range(BASE, BASE + 40), *range(BASE + 5000, BASE + 5060)]
    async with serve(OddExchange(hourly(ks))) as ex:
        got = await fetch(ex, HistoryRequest("SPOT_BTC_USDT", 3600, limit=1000))
    assert [c.open_time for c in got] == [k * HOUR for k in ks]


async def test_first_n_across_a_long_hole() -> None:
    ks = [*range(BASE, BASE + 5), *range(BASE + 400_000, BASE + 400_020)]  # a 45-year hole
    async with serve(OddExchange(hourly(ks))) as ex:
        request = HistoryRequest("SPOT_BTC_USDT", 3600, start=(BASE + 2) * HOUR, limit=10)
        got = await fetch(ex, request)
        assert [c.open_time for c in got] == [k * HOUR for k in ks[2:12]]
        assert len(ex.queries) < 40


async def test_plugin_hook_serves_the_count_forms() -> None:
    from woox_datasource.plugin import WooXDatasource

    plugin = WooXDatasource()
    async with frozen_sim() as sim, aiohttp.ClientSession() as session:
        plugin.configure(settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        request = HistoryRequest("SPOT_BTC_USDT", 3600, limit=1001)
        got = [c async for batch in plugin.fetch_history(session, request) for c in batch]
        same_digits(got, closed_truth(sim, "SPOT_BTC_USDT", "1h", 3600)[-1001:])
        assert len(sim.requests) == 2
