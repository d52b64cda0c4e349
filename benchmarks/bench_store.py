"""The candle store: a year of 1m candles read from disk vs fetched from the exchange.

Against the simulator with 250 ms added latency and WOO X's limit of 10 requests/s per IP (as
bench_history), side by side in one run:

* fetch: ``fetch_history`` of the range, every batch consumed (what a user pays each time
  without a store);
* sync: the same range into an empty store (fetch + exact decimal128 Parquet, atomic files);
* a second sync of the same range (must make no request);
* read: the stored range back as an Arrow table (``read_table``), and as the contract's
  ``OHLCV`` records (``read_candles``, Decimal objects built one by one: the slow way in).

Run: ``python -m benchmarks.bench_store`` (about two minutes; ``--days 30`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import aclosing

import aiohttp

from host_stub.spec import HistoryRequest
from host_stub.store.candle_store import CandleStore
from woox_datasource.plugin import WooXDatasource
from woox_datasource.simulator import WooXSimulator

SYMBOL = "SPOT_BTC_USDT"
DAY = 86_400_000


async def run(days: int) -> None:
    async with WooXSimulator(rate_limit=10) as sim, aiohttp.ClientSession() as session:
        sim.faults.latency_s = 0.25
        plugin = WooXDatasource()
        plugin.configure(settings={"rest_url": sim.rest_url})
        end = sim.clock.now_ms() // DAY * DAY - DAY
        start = end - days * DAY

        began = time.perf_counter()
        rows = 0
        request = HistoryRequest(SYMBOL, 60, start, end)
        async with aclosing(plugin.fetch_history(session, request)) as batches:  # type: ignore[type-var]
            async for batch in batches:
                rows += len(batch)
        fetch_s = time.perf_counter() - began
        fetch_requests = len(sim.requests)
        print(f"fetch        {rows:,} candles, {fetch_requests} requests: {fetch_s:8.2f} s")

        with tempfile.TemporaryDirectory() as root:
            store = CandleStore(root)
            sim.requests.clear()
            began = time.perf_counter()
            report = await store.sync("woox", SYMBOL, 60, start, end, lambda r: plugin.fetch_history(session, r))  # fmt: skip # noqa: E501
            sync_s = time.perf_counter() - began
            size = await asyncio.to_thread(lambda: sum(f.path.stat().st_size for f in report.files))
            print(f"sync         {report.rows:,} candles, {len(sim.requests)} requests, "
                  f"{len(report.files)} files, {size / 1e6:.1f} MB: {sync_s:8.2f} s")  # fmt: skip

            sim.requests.clear()
            began = time.perf_counter()
            again = await store.sync("woox", SYMBOL, 60, start, end, lambda r: plugin.fetch_history(session, r))  # fmt: skip # noqa: E501
            resync_s = time.perf_counter() - began
            print(f"second sync  {len(again.fetched)} ranges, {len(sim.requests)} requests: "
                  f"{resync_s:8.3f} s")  # fmt: skip

            reads: dict[str, float] = {}
            for name in ("read_table", "read_candles"):
                best = float("inf")
                for _ in range(3):
                    began = time.perf_counter()
                    got = getattr(store, name)("woox", SYMBOL, 60, start, end)
                    best = min(best, time.perf_counter() - began)
                count = got.num_rows if name == "read_table" else len(got)
                assert count == rows, (name, count, rows)
                reads[name] = best
                print(f"{name:<12} {count:,} candles (best of 3): {best:8.3f} s")

        print()
        print(f"fetch / read_table   = {fetch_s / reads['read_table']:,.0f}x")
        print(f"fetch / read_candles = {fetch_s / reads['read_candles']:,.1f}x")
        print(f"sync / fetch         = {sync_s / fetch_s:.3f}x (what writing the store costs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    asyncio.run(run(args.days))


if __name__ == "__main__":
    main()
