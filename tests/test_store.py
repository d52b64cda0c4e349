"""The host's candle store against the simulator: exact decimal Parquet, only missing ranges
fetched, grown both ways without gap or overlap, interrupted syncs (SIGINT, SIGKILL) resumed,
strangers' files reported and left alone."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import aiohttp
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import OHLCV, HistoryRequest
from host_stub.store import StoreCorrupt, StoreError, ValueTooWide, codec
from host_stub.store.candle_store import CandleStore, Fetch
from woox_datasource.plugin import WooXDatasource
from woox_datasource.simulator import MarketClock, WooXSimulator

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
CLOCK = 1_764_000_000_000  # 2025-11-24T16:00:00Z, an hour boundary
BTC = "SPOT_BTC_USDT"
CHILD = Path(__file__).with_name("_store_child.py")


@asynccontextmanager
async def exchange(**sim_options: object) -> AsyncIterator[tuple[WooXSimulator, Fetch]]:
    """A simulator (frozen market, no rate limit unless asked) and the plugin's fetch_history
    bound to a session, as a host hands it to the store."""
    options: dict[str, object] = {"clock": MarketClock(CLOCK, speed=0), "rate_limit": None}
    options.update(sim_options)
    async with WooXSimulator(**options) as sim, aiohttp.ClientSession() as session:  # type: ignore[arg-type]
        plugin = WooXDatasource()
        plugin.configure(settings={"rest_url": sim.rest_url})
        yield sim, lambda request: plugin.fetch_history(session, request)


def truth(sim: WooXSimulator, symbol: str, start: int, end: int) -> list[tuple[object, ...]]:
    """The simulator's 1m candles as (open, close, six exact decimals) rows."""
    return [
        (c.start_ms, c.end_ms, *map(Decimal, (c.open, c.high, c.low, c.close, c.volume, c.amount)))
        for c in sim.candles(symbol, "1m", start, end)
    ]


def rows_of(candles: Sequence[OHLCV]) -> list[tuple[object, ...]]:
    fields = ("open", "high", "low", "close", "volume", "quote_volume")
    return [(c.open_time, c.close_time, *(getattr(c, f) for f in fields)) for c in candles]


def read_directory(root: Path) -> pa.Table:
    """The whole store as pandas or polars would see it: one hive-partitioned dataset."""
    return ds.dataset(root, format="parquet", partitioning="hive").to_table()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ---- exact, and only what is missing --------------------------------------------------------


async def test_ten_days_of_minutes_are_exact_and_a_second_sync_asks_nothing(
    tmp_path: Path,
) -> None:
    start, end = CLOCK - 12 * DAY, CLOCK - 2 * DAY
    async with exchange() as (sim, fetch):
        store = CandleStore(tmp_path)
        report = await store.sync("woox", BTC, 60, start, end, fetch, now_ms=CLOCK)
        assert report.rows == 14_400 and report.covered == (start, end)
        requests = len(sim.requests)
        assert requests == 15  # 14,400 candles in windows of 1000

        table = read_directory(tmp_path)
        assert table.num_rows == 14_400
        for name in codec.DECIMAL_COLUMNS:
            assert pa.types.is_decimal128(table.schema.field(name).type)
            assert table.schema.field(name).type.precision == 38
        assert set(table.column("symbol").to_pylist()) == {BTC}
        got = store.read_candles("woox", BTC, 60, start, end)
        want = truth(sim, BTC, start, end)
        assert rows_of(got) == want  # Decimal equality: the same numbers, nothing rounded
        # the scale is the data's own: the most decimal places any value of the column has
        for index, name in enumerate(codec.DECIMAL_COLUMNS):
            places = max(-v.as_tuple().exponent for v in (w[2 + index] for w in want))  # type: ignore[attr-defined]
            assert table.schema.field(name).type.scale == places

        again = await store.sync("woox", BTC, 60, start, end, fetch, now_ms=CLOCK)
        inside = await store.sync("woox", BTC, 60, start + DAY, end - DAY, fetch, now_ms=CLOCK)
        assert again.fetched == inside.fetched == []
        assert len(sim.requests) == requests


async def test_extending_backward_and_forward_fetches_only_the_missing_ranges(
    tmp_path: Path,
) -> None:
    async with exchange() as (sim, fetch):
        store = CandleStore(tmp_path, rows_per_file=1_000)
        await store.sync("woox", BTC, 60, CLOCK - 6 * DAY, CLOCK - 4 * DAY, fetch, now_ms=CLOCK)
        sim.requests.clear()
        report = await store.sync(
            "woox", BTC, 60, CLOCK - 7 * DAY, CLOCK - 3 * DAY, fetch, now_ms=CLOCK
        )
        asked = sorted(report.fetched)
        assert asked[0][0] == CLOCK - 7 * DAY and asked[-1][1] == CLOCK - 3 * DAY
        assert all(
            e <= CLOCK - 6 * DAY or s >= CLOCK - 4 * DAY for s, e in asked
        )  # nothing already held was asked again
        assert sum(e - s for s, e in asked) == 2 * DAY
        assert len(sim.requests) == 4  # a day each way, in files of 1000 + 440 candles
        got = store.read_candles("woox", BTC, 60)
        assert rows_of(got) == truth(sim, BTC, CLOCK - 7 * DAY, CLOCK - 3 * DAY)
        files = store.partition("woox", BTC, 60).scan()  # no gap, no overlap (or it raises)
        assert (files[0].start, files[-1].end) == (CLOCK - 7 * DAY, CLOCK - 3 * DAY)
        # the backward stretch was written newest first, so it stayed contiguous throughout
        backward = [(f.start, f.end) for f in report.files if f.end <= CLOCK - 6 * DAY]
        assert backward == sorted(backward, reverse=True)


async def test_a_request_beyond_the_stored_range_fills_the_gap_too(tmp_path: Path) -> None:
    async with exchange() as (sim, fetch):
        store = CandleStore(tmp_path)
        await store.sync("woox", BTC, 60, CLOCK - 9 * DAY, CLOCK - 8 * DAY, fetch, now_ms=CLOCK)
        report = await store.sync(
            "woox", BTC, 60, CLOCK - 3 * DAY, CLOCK - 2 * DAY, fetch, now_ms=CLOCK
        )
        assert report.covered == (CLOCK - 9 * DAY, CLOCK - 2 * DAY)
        assert rows_of(store.read_candles("woox", BTC, 60)) == truth(
            sim, BTC, CLOCK - 9 * DAY, CLOCK - 2 * DAY
        )


async def test_a_range_before_the_listing_is_recorded_and_not_asked_again(tmp_path: Path) -> None:
    async with exchange() as (sim, fetch):
        listed = sim.symbols["PERP_2Z_USDT"]
        store = CandleStore(tmp_path)
        start, end = listed - 3 * DAY, listed + 6 * HOUR
        first = await store.sync("woox", "PERP_2Z_USDT", 60, start, end, fetch, now_ms=CLOCK)
        assert first.covered == (start, end)
        got = store.read_candles("woox", "PERP_2Z_USDT", 60)
        assert rows_of(got) == truth(sim, "PERP_2Z_USDT", listed, end)
        requests = len(sim.requests)
        again = await store.sync("woox", "PERP_2Z_USDT", 60, start, end, fetch, now_ms=CLOCK)
        assert again.fetched == [] and len(sim.requests) == requests


async def test_the_present_is_recorded_only_up_to_the_last_closed_candle(tmp_path: Path) -> None:
    async with exchange() as (sim, fetch):
        store = CandleStore(tmp_path)
        now = CLOCK + 17 * MINUTE + 30_000  # mid-candle
        sim.clock.advance(17 * MINUTE + 30_000)
        report = await store.sync("woox", BTC, 60, now - HOUR, now + HOUR, fetch, now_ms=now)
        assert report.covered == (now - HOUR, CLOCK + 17 * MINUTE)
        sim.clock.advance(5 * MINUTE)
        sim.requests.clear()
        later = await store.sync("woox", BTC, 60, now - HOUR, now + HOUR, fetch, now_ms=now)
        assert later.fetched == [(CLOCK + 17 * MINUTE, now + HOUR)]
        assert later.covered == (now - HOUR, CLOCK + 22 * MINUTE)
        assert len(sim.requests) == 1
        got = store.read_candles("woox", BTC, 60)
        assert rows_of(got) == truth(sim, BTC, now - HOUR, CLOCK + 22 * MINUTE)


# ---- exact decimals: scales from the data, widened never narrowed, refusal over rounding -----


def candle(t: int, price: str, volume: str = "1", quote: str = "1", symbol: str = BTC) -> OHLCV:
    p = Decimal(price)
    return OHLCV(symbol, 60, t, t + MINUTE, p, p, p, p, Decimal(volume), Decimal(quote))


def fixed(candles: list[OHLCV]) -> Fetch:
    async def fetch(request: HistoryRequest) -> AsyncIterator[Sequence[OHLCV]]:
        assert request.start is not None and request.end is not None
        yield [c for c in candles if request.start <= c.open_time < request.end]

    return fetch


async def test_a_finer_value_widens_the_whole_stores_scale_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store = CandleStore(tmp_path)
    coarse = [candle(k * MINUTE, "1.5") for k in range(10)]
    finer = [candle(k * MINUTE, "1.125", quote="12345678901.123456789") for k in range(10, 20)]
    other = [candle(k * MINUTE, "7.0001", volume="0.5", symbol="SPOT_ETH_USDT") for k in range(5)]
    await store.sync("woox", BTC, 60, 0, 10 * MINUTE, fixed(coarse), now_ms=DAY)
    await store.sync("woox", BTC, 60, 0, 20 * MINUTE, fixed(coarse + finer), now_ms=DAY)
    await store.sync("woox", "SPOT_ETH_USDT", 60, 0, 5 * MINUTE, fixed(other), now_ms=DAY)
    table = read_directory(tmp_path)  # one schema across every file, or this would refuse
    assert table.num_rows == 25
    assert table.schema.field("open").type == pa.decimal128(38, 4)
    assert table.schema.field("volume").type == pa.decimal128(38, 1)
    assert table.schema.field("quote_volume").type == pa.decimal128(38, 9)
    assert rows_of(store.read_candles("woox", BTC, 60)) == rows_of(coarse + finer)
    assert rows_of(store.read_candles("woox", "SPOT_ETH_USDT", 60)) == rows_of(other)


def test_a_value_decimal128_cannot_hold_is_refused_by_name() -> None:
    wide = candle(0, "1.5", quote="12345678901234567890123456789012.1234567")
    with pytest.raises(ValueTooWide) as info:
        codec.to_table([candle(MINUTE, "1"), wide])
    assert "quote_volume 12345678901234567890123456789012.1234567" in str(info.value)
    assert "38 digits" in str(info.value)


async def test_the_plugins_own_spelling_is_required(tmp_path: Path) -> None:
    async with exchange() as (_, fetch):
        store = CandleStore(tmp_path)
        with pytest.raises(StoreError, match="own spelling, 'SPOT_BTC_USDT'"):
            await store.sync("woox", "spot_btc_usdt", 60, CLOCK - DAY, CLOCK, fetch, now_ms=CLOCK)
        with pytest.raises(StoreError, match="cannot name a store directory"):
            await store.sync("woox", "../BTC", 60, CLOCK - DAY, CLOCK, fetch, now_ms=CLOCK)


# ---- files the store did not write ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.parquet", b"my own notes", "not a file this store writes"),
        ("1764000000000_1764086400000.parquet", b"PAR1 truncated", "unreadable as Parquet"),
        ("subdir", None, "not a file this store writes"),
    ],
)
async def test_a_corrupt_or_foreign_file_is_reported_and_left_alone(
    tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    async with exchange() as (sim, fetch):
        store = CandleStore(tmp_path)
        await store.sync("woox", BTC, 60, CLOCK - 2 * DAY, CLOCK - DAY, fetch, now_ms=CLOCK)
        directory = store.partition("woox", BTC, 60).directory
        stranger = directory / name
        if content is None:
            stranger.mkdir()
        else:
            stranger.write_bytes(content)
        before, requests = snapshot(tmp_path), len(sim.requests)
        with pytest.raises(StoreCorrupt) as info:
            await store.sync("woox", BTC, 60, CLOCK - 3 * DAY, CLOCK, fetch, now_ms=CLOCK)
        assert f"{name}: {reason}" in str(info.value)
        assert snapshot(tmp_path) == before
        assert len(sim.requests) == requests


async def test_a_parquet_file_of_someone_else_is_foreign(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    await store.sync("woox", BTC, 60, 0, 10 * MINUTE, fixed([candle(0, "1")]), now_ms=DAY)
    directory = store.partition("woox", BTC, 60).directory
    source = next(directory.glob("*.parquet"))
    table = ds.dataset(source).to_table().replace_schema_metadata(None)
    pq.write_table(table, directory / "600000_1200000.parquet")
    with pytest.raises(StoreCorrupt, match="without this store's metadata"):
        store.read_table("woox", BTC, 60)


# ---- interrupted syncs -------------------------------------------------------------------------


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
async def test_an_interrupted_sync_leaves_an_exact_prefix_and_a_rerun_completes_it(
    tmp_path: Path, how: signal.Signals
) -> None:
    async with WooXSimulator() as sim, aiohttp.ClientSession() as session:  # 10 requests/s
        plugin = WooXDatasource()
        plugin.configure(settings={"rest_url": sim.rest_url})
        start = sim.clock.now_ms() // HOUR * HOUR - 21 * DAY
        end = start + 20 * DAY  # 20 files of one day, two requests each: ~4 s at 10 requests/s
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), str(tmp_path), sim.rest_url, str(start), str(end), "1440",
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )  # fmt: skip
        assert child.stdout is not None
        async with asyncio.timeout(60):
            for _ in range(3):  # let it write three files, then strike mid-sync
                line = await child.stdout.readline()
                assert line.startswith(b"file "), line
            child.send_signal(how)
            rest = await child.stdout.read()
            await child.wait()
        assert b"done" not in rest and child.returncode != 0

        store = CandleStore(tmp_path, rows_per_file=1440)
        files = store.partition("woox", BTC, 60).scan()  # whole files, no gap, no overlap
        assert len(files) >= 3 and files[0].start == start
        covered_end = files[-1].end
        assert covered_end < end
        assert rows_of(store.read_candles("woox", BTC, 60)) == truth(sim, BTC, start, covered_end)

        sim.requests.clear()
        fetch: Fetch = lambda request: plugin.fetch_history(session, request)  # noqa: E731
        report = await store.sync("woox", BTC, 60, start, end, fetch)
        assert report.fetched[0][0] == covered_end  # the rerun starts where the store ends
        assert report.covered == (start, end)
        assert rows_of(store.read_candles("woox", BTC, 60)) == truth(sim, BTC, start, end)
        assert read_directory(tmp_path).num_rows == 20 * 1440
        assert not list(store.partition("woox", BTC, 60).directory.glob(".*.tmp"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**12), st.integers(0, 10**9), st.integers(0, 9)),
        min_size=1,
        max_size=20,
    )
)
def test_values_come_back_with_the_exchanges_digits(parts: list[tuple[int, int, int]]) -> None:
    """Plain decimals as an exchange writes them (no exponent, no trailing zero after the point)
    go through decimal128 at the widest scale and come back with the same digits and exponent."""
    texts = []
    for whole, fraction, places in parts:
        digits = str(fraction % 10**places).rjust(places, "0").rstrip("0") if places else ""
        texts.append(f"{whole}.{digits}" if digits else str(whole))
    candles = [candle(k * MINUTE, text, volume=text, quote=text) for k, text in enumerate(texts)]
    back = codec.to_candles(codec.to_table(candles), BTC, 60)
    want = [Decimal(text).as_tuple() for text in texts]
    assert [c.open.as_tuple() for c in back] == want
    assert [c.quote_volume.as_tuple() for c in back] == want
