"""The whole venue on several channels at once: every instrument the simulator lists (313) on
candles 1m, trades (once the plugin serves it), bbo and ticker, started through the plugin's
hooks by the reference host, against the simulator at real speed in another process (bbo on
every change of the book's top, ticker every second, a kline push every second while the candle
trades, trades as they happen).

Figures: subscription (time until every stream is connected, connections, SUBSCRIBE frames);
CPU % of one core of this process (and of the simulator) per minute and over the whole steady
phase; RSS every 10 s (flat?); events per channel; and any gap: statuses other than
``connected`` (reconnecting, stale, gap_filled, gap_unfillable), 1m finals that do not follow
the previous final of their stream, and the longest silence of a ticker stream (WOO X pushes it
every second).

Run: ``python -m benchmarks.bench_venue_channels`` (about 6 minutes; ``--seconds`` sets the
steady phase, default 300; ``--seconds 1 --settle 0`` is the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

from benchmarks.bench_stream import Child, rss_bytes
from benchmarks.bench_venue import cpu_seconds
from host_stub.endpoints import resolve
from host_stub.hosting import load, plugin_session
from host_stub.spec import CandleEvent, Channel, StatusEvent, StatusKind, StreamConfig
from woox_datasource.plugin import WooXDatasource
from woox_datasource.stream import LiveStream

WANTED = (Channel.CANDLES, Channel.TRADES, Channel.BBO, Channel.TICKER)


class Tally:
    """Every stream's events, reduced to the figures (one consumer per stream)."""

    def __init__(self, streams: dict[LiveStream, Channel]) -> None:
        self.streams = streams
        self.connected: set[str] = set()
        self.events: Counter[Channel] = Counter()
        self.statuses: Counter[str] = Counter()
        self.broken_finals = 0
        self.finals = 0
        self.ticker_silence = 0.0
        self.counting = False
        self.tasks = [asyncio.create_task(self._consume(s, c)) for s, c in streams.items()]

    async def _consume(self, stream: LiveStream, channel: Channel) -> None:
        sid = stream.id
        next_open: int | None = None
        last = 0.0
        async for event in stream:
            now = time.monotonic()
            if isinstance(event, StatusEvent):
                if event.kind is StatusKind.CONNECTED:
                    self.connected.add(sid)
                if self.counting and event.kind is not StatusKind.CONNECTED:
                    self.statuses[f"{channel} {event.kind}"] += 1
                continue
            if self.counting:
                self.events[channel] += 1
                if channel is Channel.TICKER and last:
                    self.ticker_silence = max(self.ticker_silence, now - last)
            last = now
            if isinstance(event, CandleEvent) and event.final:
                candle = event.candle
                if self.counting:
                    self.finals += 1
                    self.broken_finals += next_open is not None and candle.open_time != next_open
                next_open = candle.close_time


async def run(seconds: float, settle: float) -> None:
    child = await Child.spawn("benchmarks.bench_venue")  # the venue's simulator, real speed
    try:
        plugin = load("woox")
        [ds] = [p for p in plugin.manager.get_plugins() if isinstance(p, WooXDatasource)]
        endpoints = resolve(environment="production", rest_url=None, ws_url=None,
                            simulator=child.rest_url)  # fmt: skip
        async with plugin_session(plugin, endpoints, allow=[]) as session:
            served = {info.channel for info in plugin.call("datasource_info").channels}
            channels = [c for c in WANTED if c in served]
            missing = [str(c) for c in WANTED if c not in served]
            names = sorted(m.symbol for m in await plugin.call("list_markets", session=session))
            left_out = f" (not served yet, left out: {', '.join(missing)})" if missing else ""
            print(f"venue: {len(names)} instruments x {', '.join(channels)} = "
                  f"{len(names) * len(channels)} streams; simulator at real speed in another "
                  f"process{left_out}")  # fmt: skip
            cpu0, child0, wall0 = time.process_time(), cpu_seconds(child.proc.pid), time.monotonic()
            streams: dict[LiveStream, Channel] = {}
            for symbol in names:
                for channel in channels:
                    interval = 60 if channel is Channel.CANDLES else None
                    config = StreamConfig(symbol, interval, channel=channel)
                    stream = await plugin.call("start_stream", session=session, config=config)
                    streams[stream] = channel
            tally = Tally(streams)
            while len(tally.connected) < len(streams):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            subscribed = time.monotonic() - wall0
            stats = json.loads(await child.ask("STATS"))
            manager = ds.stream_manager()
            slots = sum(len(pool.slots) for pool in manager._pools.values())
            print(f"subscription: all {len(streams)} connected in {subscribed:.2f} s; "
                  f"{stats['subscribe']} SUBSCRIBEs, {slots} connections "
                  f"({stats['active']} open at the exchange); CPU to get there "
                  f"{time.process_time() - cpu0:.1f} s")  # fmt: skip

            await asyncio.sleep(settle)  # REST seeds and first values settle
            tally.counting = True
            rss: list[tuple[float, float]] = []
            minutes: list[float] = []
            start, cpu1, child1 = time.monotonic(), time.process_time(), cpu_seconds(child.proc.pid)
            mark, mark_cpu = start, cpu1
            while (now := time.monotonic()) - start < seconds:
                rss.append((now - start, rss_bytes() / 2**20))
                if now - mark >= 60:
                    minutes.append((time.process_time() - mark_cpu) / (now - mark) * 100)
                    mark, mark_cpu = now, time.process_time()
                await asyncio.sleep(min(10.0, start + seconds - now))
            rss.append((time.monotonic() - start, rss_bytes() / 2**20))
            wall = time.monotonic() - start
            cpu = (time.process_time() - cpu1) / wall * 100
            child_cpu = (cpu_seconds(child.proc.pid) - child1) / wall * 100
            stats = json.loads(await child.ask("STATS"))
            per_minute = ", ".join(f"{m:.1f}" for m in minutes) or "under a minute"
            print(f"steady {wall:.0f} s: plugin process {cpu:.1f} % of one core (per minute: "
                  f"{per_minute}), simulator {child_cpu:.1f} %")  # fmt: skip
            per_s = ", ".join(f"{c} {n / wall:,.0f}/s" for c, n in tally.events.items())
            print(f"events taken: {per_s}; {tally.finals} 1m finals")
            step = max(1, len(rss) // 12)
            print("RSS (MB) over time: " + ", ".join(f"{t:.0f}s {mb:.1f}" for t, mb in rss[::step])
                  + f"; growth {rss[-1][1] - rss[0][1]:+.1f} MB")  # fmt: skip
            print(f"gaps: statuses other than connected: {dict(tally.statuses) or 'none'}; "
                  f"1m finals not following their stream's last: {tally.broken_finals}; longest "
                  f"ticker silence {tally.ticker_silence:.2f} s; connections opened in all "
                  f"{stats['opened']}")  # fmt: skip
            started = time.monotonic()
            await plugin.shutdown()
            stop = time.monotonic() - started
            await asyncio.gather(*tally.tasks)
            whole = time.monotonic() - wall0
            cpu = (time.process_time() - cpu0) / whole * 100
            child_cpu = (cpu_seconds(child.proc.pid) - child0) / whole * 100
            print(f"shutdown: {stop * 1000:.0f} ms; whole run {whole:.0f} s, {cpu:.1f} % of one "
                  f"core, simulator {child_cpu:.1f} %")  # fmt: skip
    finally:
        await child.close()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_venue_channels")
    parser.add_argument("--seconds", type=float, default=300.0, help="steady phase")
    parser.add_argument("--settle", type=float, default=10.0, help="before the steady phase")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.settle))


if __name__ == "__main__":
    cli()
