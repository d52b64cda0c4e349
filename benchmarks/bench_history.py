"""History throughput and memory: a year of 1m candles through the rate budget.

Against the simulator with 250 ms added latency and WOO X's limit of 10 requests/s per IP:

* wall time of ``fetch_history`` for 525,600 candles (526 requests) vs the floor that the
  exchange's limit imposes (requests / 10 per second); goal <= 1.05x;
* the same with ``max_concurrency=1`` for contrast. One request at a time cannot use the
  budget (each waits out the latency), so that run covers only the first ``--contrast-windows``
  windows and is extrapolated to the year (said so in the output);
* peak memory (ru_maxrss of a fresh process, which also holds the in-process simulator) while
  consuming the batches and writing them to a file, for a month vs a year; goal: flat. These runs
  switch pacing and latency off: memory depends on how much is buffered, not on the clock.

Run: ``python -m benchmarks.bench_history`` (about two minutes; prints the figures of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import aclosing

import aiohttp

from host_stub.spec import HistoryRequest
from woox_datasource.rest import RateBudget, RestClient, plan_windows
from woox_datasource.simulator import WooXSimulator
from woox_datasource.timeframes import parse_interval

SYMBOL = "SPOT_BTC_USDT"
MINUTE = 60_000
DAY = 86_400_000


def year_range(sim: WooXSimulator, days: int) -> tuple[int, int]:
    end = sim.clock.now_ms() // DAY * DAY - DAY
    return end - days * DAY, end


def max_per_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


async def timed_run(days: int, concurrency: int, windows: int | None) -> None:
    async with WooXSimulator(rate_limit=10) as sim, aiohttp.ClientSession() as session:
        sim.faults.latency_s = 0.25
        start, end = year_range(sim, days)
        planned = plan_windows(parse_interval(60), start, end)
        if windows is not None and windows < len(planned):
            end = planned[windows - 1].end
        budget = RateBudget()
        client = RestClient(session, sim.rest_url, budget=budget, max_concurrency=concurrency)
        candles = 0
        began = time.perf_counter()
        async with aclosing(client.fetch_history(HistoryRequest(SYMBOL, 60, start, end))) as it:
            async for batch in it:
                candles += len(batch)
        wall = time.perf_counter() - began
        requests = len(sim.requests)
        refused = sum(r.rate_limited for r in sim.requests)
        floor = requests / 10
        print(f"  candles {candles:,} in {requests} requests; wall {wall:.2f} s; "
              f"floor requests/10 = {floor:.1f} s; ratio {wall / floor:.3f}x")  # fmt: skip
        print(
            f"  max requests in any 1 s (arrival) {max_per_second([r.time for r in sim.requests])}"
            f"; 429s from the limiter {refused}; budget margin now {budget.margin_s:.3f} s"
        )
        if windows is not None:
            total = len(planned)
            print(f"  covered {requests} of {total} windows; extrapolated to the whole range: "
                  f"{wall / requests * total:.0f} s ({wall / requests * total / (total / 10):.1f}x "
                  "the floor)")  # fmt: skip


async def memory_child(days: int) -> None:
    """Consume ``days`` of 1m candles into a file, then print this process's peak RSS (MB)."""
    async with WooXSimulator(rate_limit=None) as sim, aiohttp.ClientSession() as session:
        start, end = year_range(sim, days)
        client = RestClient(session, sim.rest_url, budget=RateBudget(10_000, 1.0, 0.0))
        candles = 0
        with tempfile.TemporaryFile("w") as out:
            request = HistoryRequest(SYMBOL, 60, start, end)
            async with aclosing(client.fetch_history(request)) as it:
                async for batch in it:
                    candles += len(batch)
                    out.writelines(
                        f"{c.open_time},{c.open},{c.high},{c.low},{c.close},{c.volume},"
                        f"{c.quote_volume}\n"
                        for c in batch
                    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{candles} {peak_mb:.1f}")


def measure_memory(days: int) -> tuple[int, float]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "benchmarks.bench_history", "--memory-child", str(days)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.split()
    return int(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--contrast-windows", type=int, default=60)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        asyncio.run(memory_child(args.memory_child))
        return
    print(f"python {sys.version.split()[0]}; {args.days} days of 1m {SYMBOL}, simulator with "
          "250 ms latency and 10 requests/s")  # fmt: skip
    print("max_concurrency=8 (default):")
    asyncio.run(timed_run(args.days, 8, None))
    print(f"max_concurrency=1 (contrast, first {args.contrast_windows} windows only):")
    asyncio.run(timed_run(args.days, 1, args.contrast_windows))
    if not args.skip_memory:
        print("peak RSS of a fresh process consuming into a file (pacing and latency off):")
        for days in (30, args.days):
            candles, peak = measure_memory(days)
            print(f"  {days:4d} days: {candles:,} candles, peak RSS {peak:.1f} MB")


if __name__ == "__main__":
    main()
