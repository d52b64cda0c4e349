"""Book channel benchmarks: what an exact book costs per delta, and the whole venue's books live.

The simulated exchange runs in a child process (``--serve``), so the client under test has the
event loop to itself, as it would against the real exchange. Figures:

* CPU per delta, depth 50: the same ``orderbookupdate@SYM@50`` frames (the simulator's next real
  deltas of a few busy books, a true ``prevTs`` chain, the market clock frozen so that the REST
  seed links to the first of them) blasted over one loopback connection to (a) a bare
  ``aiohttp`` receive + ``json.loads`` loop and (b) the book channel (decode, exact decimals,
  the ``prevTs`` check, the depth-50 ``OrderBook``, the event, the merge slot, the queue, a
  consumer that takes every event), and (c) the same with a consumer that also applies every
  event to its own ``OrderBook`` as a terminal would. Run side by side in one process, one after
  the other, the median of a few rounds; CPU time (what the client costs, whatever else the
  machine does) and wall clock. Every delta must be applied, none resynced: checked, not assumed.
* the venue: every instrument of a WOO X-size venue (313) on the book at depth 50, with every
  other channel the plugin declares for its market kind at its defaults (trades and the
  latest-value channels: bbo, ticker, mark and index price, funding, open interest) and candles
  1m, started through the plugin's hooks by the reference host against the simulator at real
  speed (book deltas every 50 ms for a book that changed). CPU % of one core (this process and the
  simulator's), RSS, time until every book is synced, book deltas per second, how far behind the
  exchange's clock book events reach the consumer, ``resynced`` and ``stale`` statuses (during the
  start, while 313 book seeds and the other channels' REST reads share 10 requests/s, and in the
  steady state). ``--symbols N`` scales the venue down to its first N instruments of each kind in
  proportion, for a machine that cannot carry the whole of it.

Times are CPU and wall clock on a shared machine: compare the ratios measured side by side.

Run: ``python -m benchmarks.bench_book`` (a few minutes; ``--quick`` for smaller runs,
``--skip cpu`` or ``--skip venue`` to leave one part out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp

from benchmarks.bench_stream import SYMBOLS, Child, manager_for, rss_bytes, wait_for
from benchmarks.bench_venue import Rss, cpu_seconds
from host_stub.endpoints import resolve
from host_stub.hosting import load, plugin_session
from host_stub.spec import (
    BookEvent,
    Channel,
    MarketKind,
    OrderBook,
    StatusEvent,
    StatusKind,
    StreamConfig,
)
from woox_datasource import wire
from woox_datasource.channels.book_feed import BookFeed
from woox_datasource.plugin import WooXDatasource
from woox_datasource.stream import LiveStream, StreamManager

CPU_SYMBOLS = SYMBOLS
"""The simulator's default instruments, busy and quiet books alike (BTC's changes ~6 times a
second, a quiet alt's a few times a minute)."""
DEPTH = 50
SNAPSHOT_GRID_MS = 1_000
"""The frozen market instant is a multiple of this, so the REST book (a view at a 200 ms
instant) and the first blasted delta (the next window of 50 ms) meet at the same ``prevTs``."""

# ---------------------------------------------------------------------------------------------
# The child for the CPU part: the simulator with its market clock frozen
# ---------------------------------------------------------------------------------------------


async def serve() -> None:
    import woox_datasource.simulator.blast as blast
    from woox_datasource.simulator import MarketClock, WooXSimulator

    now = time.time_ns() // 1_000_000 // SNAPSHOT_GRID_MS * SNAPSHOT_GRID_MS - 60_000
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    frames: dict[str, list[tuple[str, ...]]] = {}
    """Topic -> its next real deltas after ``now`` (the market is frozen: the same every run)."""

    async def prepared(sim: WooXSimulator, variants: int) -> list[tuple[Any, list[Any]]]:
        hub = sim._hub  # a benchmark may look inside: the blast API rebuilds frames every time
        out = []
        for conn in hub.connections.values():
            if conn.closer is None and conn.subs:
                for name, feed in conn.subs.items():
                    if len(frames.get(name, ())) < variants:
                        frames[name] = await blast._samples(hub, feed, now, variants)
                out.append((conn, [f for n in conn.subs for f in frames[n][:variants]]))
        return out

    async with WooXSimulator(clock=MarketClock(now, speed=0.0), rate_limit=None) as sim:
        print(f"READY {sim.ws_url} {sim.rest_url}", flush=True)
        while line := (await reader.readline()).decode().split():
            cmd, args = line[0], line[1:]
            answer: object = ""
            if cmd == "COUNT":  # how many deltas BLAST will send (each once, in chain order)
                answer = sum(len(t) for _, t in await prepared(sim, int(args[0])))
            elif cmd == "BLAST":  # the next ``variants`` real deltas of every subscribed topic,
                # as fast as the socket takes them or ``rate`` per second
                jobs = await prepared(sim, int(args[0]))
                rate = float(args[1]) or None
                for conn, _ in jobs:
                    conn.paused = True
                try:
                    sent = await asyncio.gather(
                        *(blast._blast_one(c, t, len(t), rate) for c, t in jobs)
                    )
                finally:
                    for conn, _ in jobs:
                        conn.paused = False
                answer = sum(sent)
            elif cmd == "QUIT":
                break
            print(f"DONE {answer}", flush=True)


# ---------------------------------------------------------------------------------------------
# CPU per delta
# ---------------------------------------------------------------------------------------------


def _topics() -> list[str]:
    return [wire.book_topic(s, DEPTH) for s in CPU_SYMBOLS]


async def raw_run(child: Child, variants: int, rate: float) -> tuple[tuple[float, float], int]:
    """((CPU us per delta, wall us per delta), deltas) of a bare receive + json.loads loop."""
    async with aiohttp.ClientSession() as session, session.ws_connect(child.ws_url) as ws:
        names = _topics()
        for i in range(0, len(names), wire.MAX_TOPICS_PER_SUBSCRIBE):
            chunk = names[i : i + wire.MAX_TOPICS_PER_SUBSCRIBE]
            await ws.send_str(wire.subscribe_frame(str(i), chunk))
            while "cmd" not in json.loads((await ws.receive()).data):
                pass
        n = int(await child.ask(f"COUNT {variants}"))
        done = await child.send(f"BLAST {variants} {rate}")
        started, cpu, count = time.perf_counter(), time.process_time(), 0
        while count < n:
            doc = json.loads((await ws.receive()).data)
            count += "topic" in doc
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        await done
    return (cpu / n * 1e6, wall / n * 1e6), n


def _book_feeds(manager: StreamManager) -> list[BookFeed]:
    """The manager's book feeds (a benchmark may look inside: their sync counters)."""
    pools = manager._pools.values()
    return [f for p in pools for f in p.feeds.values() if isinstance(f, BookFeed)]


async def channel_run(
    child: Child, n: int, variants: int, rate: float, consumer_book: bool
) -> tuple[float, float, int, int]:
    """(CPU us per delta, wall us per delta, events taken, events merged) of the book channel,
    the consumer taking every event (and applying it to its own OrderBook if asked)."""
    manager = manager_for(child)
    async with aiohttp.ClientSession() as session:
        configs = [StreamConfig(s, channel=Channel.BOOK, depth=DEPTH) for s in CPU_SYMBOLS]
        streams = [await manager.start(session, c) for c in configs]
        taken = 0
        resyncs: list[str] = []

        async def consume(stream: LiveStream) -> None:
            nonlocal taken
            book = OrderBook()
            async for event in stream:
                if isinstance(event, BookEvent):
                    taken += 1
                    if consumer_book:
                        book.apply(event)
                elif isinstance(event, StatusEvent) and event.kind is StatusKind.RESYNCED:
                    resyncs.append(event.reason)

        consumers = [asyncio.create_task(consume(s)) for s in streams]
        feeds = _book_feeds(manager)
        await wait_for(lambda: len(feeds) == len(streams) and all(f.sync.synced for f in feeds))
        await wait_for(lambda: taken >= len(streams))  # each seed's snapshot taken
        base, taken = sum(f.sync.applied for f in feeds), 0
        merged0 = sum(getattr(s, "merged", 0) for s in streams)
        done = await child.send(f"BLAST {variants} {rate}")
        started, cpu = time.perf_counter(), time.process_time()
        await done  # (no polling while the frames come: it would cost CPU the raw loop does not)
        await wait_for(lambda: sum(f.sync.received for f in feeds) >= n
                       and all(s.pending == 0 for s in streams))  # fmt: skip
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        applied = sum(f.sync.applied for f in feeds) - base
        merged = sum(getattr(s, "merged", 0) for s in streams) - merged0
        broken = resyncs or any(not f.sync.synced for f in feeds)
        await manager.aclose()
        await asyncio.gather(*consumers)
    if applied != n or broken:
        raise RuntimeError(f"the blast was not one unbroken chain: {applied} of {n} deltas "
                           f"applied, resyncs {resyncs}")  # fmt: skip
    return cpu / n * 1e6, wall / n * 1e6, taken, merged


PACED_RATE = 1_000.0
"""Deltas per second in the paced rounds: one frame per wake-up of the loop, so the consumer
takes every delta as its own event, as at WOO X's cadence (a busy book: at most 20 per second)."""


async def cpu_per_delta(quick: bool) -> None:
    rounds = 1 if quick else 3
    child = await Child.spawn("benchmarks.bench_book")
    try:
        for rate, variants, what in (
            (0.0, 3_000 if quick else 20_000, "flooded (as fast as loopback carries them)"),
            (PACED_RATE, 300 if quick else 1_000, f"paced at {PACED_RATE:,.0f} per second"),
        ):
            rows = []
            for _ in range(rounds):
                raw, n = await raw_run(child, variants, rate)
                plain = await channel_run(child, n, variants, rate, consumer_book=False)
                applying = await channel_run(child, n, variants, rate, consumer_book=True)
                rows.append((*raw, *plain, *applying))
            _report(what, n, rounds, rows)
    finally:
        await child.close()


def _report(what: str, n: int, rounds: int, rows: Sequence[tuple[float, ...]]) -> None:
    raw_cpu, raw_wall, cpu, wall, taken, merged, app_cpu, app_wall, app_taken, app_merged = (
        statistics.median(r[i] for r in rows) for i in range(10)
    )
    print(f"CPU per delta, depth {DEPTH}, {what}: {n:,} deltas of {len(CPU_SYMBOLS)} books "
          f"(the simulator's next real deltas, unbroken chains) over one loopback connection, "
          f"median of {rounds}:")  # fmt: skip
    print(f"  raw aiohttp receive + json.loads: {raw_cpu:.1f} us CPU ({raw_wall:.1f} us wall)")
    print(f"  book channel, consumer takes each event: {cpu:.1f} us CPU ({wall:.1f} us wall) "
          f"-> {cpu / raw_cpu:.2f}x the raw loop's CPU (+{cpu - raw_cpu:.1f} us); {taken:,.0f} "
          f"events taken, "
          f"{merged:,.0f} merged while the consumer was behind")  # fmt: skip
    print(f"  ... and the consumer applies each to its OrderBook: {app_cpu:.1f} us CPU "
          f"({app_wall:.1f} us wall) -> {app_cpu / raw_cpu:.2f}x (+{app_cpu - raw_cpu:.1f} us); "
          f"{app_taken:,.0f} events, "
          f"{app_merged:,.0f} merged")  # fmt: skip
    print(f"  every delta applied through the prevTs check, no resync; one core would carry "
          f"~{1e6 / cpu:,.0f} deltas/s this way (WOO X at depth 50: at most 20 per second "
          f"per book)")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The venue
# ---------------------------------------------------------------------------------------------


def _scaled(names: list[str], kinds: dict[str, MarketKind], limit: int | None) -> list[str]:
    """The first instruments of each kind, in the venue's proportions (all if no limit)."""
    if limit is None or limit >= len(names):
        return names
    out: list[str] = []
    for kind in MarketKind:
        of_kind = [s for s in names if kinds[s] is kind]
        out += of_kind[: max(1, round(limit * len(of_kind) / len(names)))]
    return sorted(out)


class VenueWatch:
    """Every stream's events, reduced to the figures (one consumer per stream)."""

    def __init__(self, streams: list[tuple[Channel, LiveStream]]) -> None:
        self.events: Counter[Channel] = Counter()
        self.synced: dict[str, float] = {}
        self.resynced: Counter[str] = Counter()
        self.stale: Counter[str] = Counter()
        self.lags: list[int] = []
        self.late: list[str] = []
        """Book events more than 1 s behind: when (UTC) and which book."""
        self.sample_lags = False
        self.started = time.monotonic()
        self.tasks = [asyncio.create_task(self._consume(c, s)) for c, s in streams]

    def window(self) -> None:
        """From now on, count afresh (the steady state)."""
        self.events.clear()
        self.resynced.clear()
        self.stale.clear()
        self.lags.clear()
        self.late.clear()
        self.sample_lags = True

    @staticmethod
    def _why(reason: str) -> str:
        what = reason.split(";")[0].split("(")[0].split(":")[0]
        return re.sub(r"\d+(\.\d+)?", "N", what).strip()

    async def _consume(self, channel: Channel, stream: LiveStream) -> None:
        sid = stream.id
        async for event in stream:
            self.events[channel] += 1
            if isinstance(event, BookEvent):
                if sid not in self.synced:
                    self.synced[sid] = time.monotonic() - self.started
                if self.sample_lags and not event.snapshot:
                    lag = time.time_ns() // 1_000_000 - event.time
                    self.lags.append(lag)
                    if lag > 1_000:
                        self.late.append(f"{time.strftime('%H:%M:%S', time.gmtime())} "
                                         f"{event.symbol} {lag} ms")  # fmt: skip
            elif isinstance(event, StatusEvent):
                if event.kind is StatusKind.RESYNCED:
                    self.resynced[self._why(event.reason)] += 1
                elif event.kind is StatusKind.STALE:
                    self.stale[f"{channel}: {self._why(event.reason)}"] += 1


async def venue(seconds: float, limit: int | None) -> None:
    child = await Child.spawn("benchmarks.bench_venue")  # the venue's simulator, real speed
    try:
        plugin = load("woox")
        [ds] = [p for p in plugin.manager.get_plugins() if isinstance(p, WooXDatasource)]
        endpoints = resolve(environment="production", rest_url=None, ws_url=None,
                            simulator=child.rest_url)  # fmt: skip
        async with plugin_session(plugin, endpoints, allow=[]) as session:
            markets = await plugin.call("list_markets", session=session)
            kinds = {m.symbol: m.kind for m in markets}
            names = _scaled(sorted(kinds), kinds, limit)
            info = plugin.call("datasource_info")
            one_minute = next(tf.interval for tf in info.timeframes if tf.label == "1m")
            wanted: list[tuple[Channel, StreamConfig]] = []
            for ch in info.channels:
                for symbol in names:
                    if kinds[symbol] not in ch.kinds:
                        continue
                    if ch.channel is Channel.CANDLES:
                        config = StreamConfig(symbol, one_minute)
                    else:
                        depth = DEPTH if ch.channel is Channel.BOOK else None
                        config = StreamConfig(symbol, channel=ch.channel, depth=depth)
                    wanted.append((ch.channel, config))
            per = Counter(c for c, _ in wanted)
            scale = (f"scaled to {len(names)} of {len(kinds)} instruments"
                     if len(names) < len(kinds) else f"all {len(names)} instruments")  # fmt: skip
            print(f"venue ({scale}, simulator at real speed in another process): "
                  f"{len(wanted)} streams: "
                  + ", ".join(f"{c} {k}" for c, k in per.items()))  # fmt: skip
            rss = Rss(ds)
            cpu0 = time.process_time()
            streams = []
            for channel, config in wanted:
                stream = await plugin.call("start_stream", session=session, config=config)
                streams.append((channel, stream))
            watch = VenueWatch(streams)
            books = per[Channel.BOOK]
            async with asyncio.timeout(600):
                while len(watch.synced) < books:  # noqa: ASYNC110 - a count the consumers raise
                    await asyncio.sleep(0.1)
            start_s = time.monotonic() - watch.started
            synced = sorted(watch.synced.values())
            start_cpu = (time.process_time() - cpu0) / start_s * 100
            print(f"start: every book synced {start_s:.1f} s after the first start (median book "
                  f"{statistics.median(synced):.1f} s; {books} seeds through 10 requests/s with "
                  f"the other channels' REST reads); plugin process {start_cpu:.0f} % of one "
                  f"core meanwhile; resynced {sum(watch.resynced.values())}, stale "
                  f"{dict(watch.stale)}")  # fmt: skip

            watch.window()
            feeds = _book_feeds(ds.stream_manager())
            applied0 = sum(f.sync.applied for f in feeds)
            cpu1, child1, wall1 = time.process_time(), cpu_seconds(child.proc.pid), time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - wall1
            cpu = (time.process_time() - cpu1) / wall * 100
            child_cpu = (cpu_seconds(child.proc.pid) - child1) / wall * 100
            applied = sum(f.sync.applied for f in feeds) - applied0
            lags = sorted(watch.lags) or [0]
            at = [lags[min(len(lags) - 1, int(q * len(lags)))] for q in (0.5, 0.99)]
            rates = ", ".join(f"{c} {k / wall:,.0f}" for c, k in watch.events.items())
            print(f"steady state ({wall:.0f} s): plugin process {cpu:.1f} % of one core, "
                  f"simulator {child_cpu:.1f} %; RSS {rss_bytes() / 2**20:.0f} MB; book deltas "
                  f"applied {applied / wall:,.0f}/s; events/s {rates}")  # fmt: skip
            print(f"  book events behind the exchange's clock: p50 {at[0]} ms, p99 {at[1]} ms, "
                  f"max {lags[-1]} ms (the simulator publishes at a window's end); resynced "
                  f"{dict(watch.resynced) or 0}, stale {dict(watch.stale) or 0}; "
                  f"resyncs in all {sum(f.sync.resyncs for f in feeds)}")  # fmt: skip
            if watch.late:
                print(f"  more than 1 s behind: {len(watch.late)}: {', '.join(watch.late[:8])}")
            print(f"  RSS (MB) over time: {rss.line()}")
            await plugin.shutdown()
            await asyncio.gather(*watch.tasks)
            rss.task.cancel()
    finally:
        await child.close()


async def main(args: argparse.Namespace) -> None:
    if "cpu" not in args.skip:
        await cpu_per_delta(args.quick)
    if "venue" not in args.skip:
        await venue(20.0 if args.quick else args.steady, args.symbols)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_book")
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steady", type=float, default=60.0, help="venue steady phase, seconds")
    parser.add_argument("--symbols", type=int, default=None,
                        help="scale the venue down to about this many instruments")  # fmt: skip
    parser.add_argument("--skip", nargs="*", default=[], choices=["cpu", "venue"])
    args = parser.parse_args()
    asyncio.run(serve() if args.serve else main(args))


if __name__ == "__main__":
    cli()
