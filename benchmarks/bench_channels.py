"""Per channel: CPU per push through the stream path vs a raw aiohttp receive + ``json.loads``
loop on the same pushes.

For every channel the stream manager serves (the registry; the book has its own benchmark,
``bench_book``), up to 99 topics of that channel on one loopback connection, and a sender in a
child process (the simulator's own encoder, so the client has a core to itself) pushing real
frames as fast as the socket takes them: each topic's next 16 pushes, replayed round-robin with
the envelope ``ts`` and the payload's ``ts`` set to the send time (wall-clock ms), so that a
latest-value channel sees time move forward and delivers (a replay with its old times would be
dropped as stale, a cheaper path than the real one). Candle topics are those whose candle stays
open for the whole run (a push stamped at or after its candle's end would rightly be final).

The figure is CPU time per push of this process: the raw loop pays aiohttp's receive and
``json.loads``; the stream path pays receive, routing, the channel's decode into exact records,
its state machine (newest wins, finality), the queue and a consumer taking every event it is
given (conflation lets a consumer that falls behind skip superseded values, which the raw loop
never has to decide). Ratio = raw / stream: >= 1.0 means the stream path costs no more CPU per
push than the raw loop. Runs alternate raw and stream per channel; the median of ``--runs``.

Run: ``python -m benchmarks.bench_channels`` (about two minutes; ``--quick`` one smaller run;
``--smoke`` a few seconds, what the test suite runs to keep it working).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from typing import Any

import aiohttp

from benchmarks.bench_stream import Child, manager_for, pick_topics, wait_for
from host_stub.spec import Channel, StatusEvent, StatusKind, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.registry import CHANNELS
from woox_datasource.stream import LiveStream

TOPICS = 99
VARIANTS = 16
_TS: re.Pattern[str] = re.compile(r'(?<="ts":)\d+')

# ---------------------------------------------------------------------------------------------
# The child: a simulator and a stamping sender
# ---------------------------------------------------------------------------------------------


async def _templates(sim: Any) -> list[tuple[Any, list[list[str]]]]:
    """Per subscribed connection: each topic's next pushes, split around every ``"ts":``."""
    from woox_datasource.simulator.channels import open_feed  # the simulator's own encoder

    hub = sim._hub  # a benchmark may look inside: the blast API replays times unchanged
    now = hub.clock.now_ms()
    out = []
    for conn in hub.connections.values():
        if conn.closer is not None or not conn.subs:
            continue
        conn.paused = True
        parts: list[list[str]] = []
        for name in list(conn.subs):
            fresh = open_feed(hub.models, hub.warmer.request, name, now)
            texts: list[str] = []
            at = now
            symbol = name.split("@")[1]
            while fresh is not None and len(texts) < VARIANTS and at < now + 3_600_000:
                at += 1000
                if name.startswith("ticker@"):
                    await hub.warmer.ready([hub.models.day(symbol)], at + 1000)
                texts += fresh.pull(at)
            parts += [_TS.split(text) for text in texts[:VARIANTS]]
        out.append((conn, parts))
    return out


async def send(sim: Any, messages: int) -> int:
    """``messages`` pushes to each subscribed connection, as fast as its socket takes them."""
    jobs = await _templates(sim)
    sent = 0
    try:
        for conn, templates in jobs:
            write = conn.ws.send_str
            for i in range(messages if templates else 0):
                await write(str(time.time_ns() // 1_000_000).join(templates[i % len(templates)]))
                sent += 1
    finally:
        for conn, _ in jobs:
            conn.paused = False
    return sent


async def serve() -> None:
    from woox_datasource.simulator import MarketClock, WooXSimulator, venue_symbols

    clock = MarketClock(time.time_ns() // 1_000_000 - 1000, speed=0.0)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with WooXSimulator(clock=clock, symbols=venue_symbols()) as sim:
        print(f"READY {sim.ws_url} {sim.rest_url}", flush=True)
        while line := (await reader.readline()).decode().split():
            cmd, args = line[0], line[1:]
            answer: object = ""
            if cmd == "SEND":
                answer = await send(sim, int(args[0]))
            elif cmd == "NOW":
                answer = sim.clock.now_ms()
            elif cmd == "SYMBOLS":
                answer = " ".join(sim.symbols)
            elif cmd == "QUIT":
                break
            print(f"DONE {answer}", flush=True)


# ---------------------------------------------------------------------------------------------
# The client side
# ---------------------------------------------------------------------------------------------


def configs(channel: Channel, symbols: list[str], market_now: int) -> list[StreamConfig]:
    """Up to TOPICS streams of ``channel``, one topic each, on markets where it exists."""
    if channel is Channel.CANDLES:
        return [StreamConfig(s, tf.interval) for s, tf in pick_topics(market_now, TOPICS, symbols)]
    kinds = wire.CHANNEL_INFOS[channel].kinds
    chosen = [s for s in symbols if (wire.market_parts(s) or ("",))[0] in kinds][:TOPICS]
    return [StreamConfig(s, channel=channel) for s in chosen]


def topics_of(wanted: list[StreamConfig]) -> list[str]:
    """The topics those streams subscribe (the raw loop subscribes the same)."""
    return sorted({CHANNELS[c.channel].topic(wire.normalize_symbol(c.symbol), c) for c in wanted})


def drain_all(streams: list[LiveStream], events: list[int]) -> list[asyncio.Task[None]]:
    """A consumer per stream taking every event, counted in ``events[0]``."""

    async def take(stream: LiveStream) -> None:
        async for _ in stream:
            events[0] += 1

    return [asyncio.create_task(take(s)) for s in streams]


async def raw_run(child: Child, topics: list[str], n: int) -> float:
    """CPU us per push of a bare aiohttp receive + json.loads loop."""
    async with aiohttp.ClientSession() as session, session.ws_connect(child.ws_url) as ws:
        for i in range(0, len(topics), wire.MAX_TOPICS_PER_SUBSCRIBE):
            await ws.send_str(wire.subscribe_frame(str(i), topics[i : i + 10]))
            while "cmd" not in json.loads((await ws.receive()).data):
                pass
        await asyncio.sleep(0.2)  # (the subscriptions' own first pushes, not counted)
        while True:
            try:
                async with asyncio.timeout(0.05):
                    await ws.receive()
            except TimeoutError:
                break
        done = await child.send(f"SEND {n}")
        cpu, count = time.process_time(), 0
        while count < n:
            doc = json.loads((await ws.receive()).data)
            count += "topic" in doc
        cpu = time.process_time() - cpu
        await done
    return cpu / n * 1e6


async def stream_run(child: Child, wanted: list[StreamConfig], n: int) -> tuple[float, int]:
    """(CPU us per push, events the consumers took) through the stream path."""
    manager = manager_for(child)
    async with aiohttp.ClientSession() as session:
        streams = [await manager.start(session, config) for config in wanted]
        for stream in streams:
            async for event in stream:
                if isinstance(event, StatusEvent) and event.kind is StatusKind.CONNECTED:
                    break
        await asyncio.sleep(0.3)  # (REST seeds and first pushes, not counted)
        events = [0]
        consumers = drain_all(streams, events)
        await wait_for(lambda: all(s.pending == 0 for s in streams))
        base, taken = manager.stats.pushes, events[0]
        done = await child.send(f"SEND {n}")
        cpu = time.process_time()
        await wait_for(
            lambda: manager.stats.pushes - base >= n and all(s.pending == 0 for s in streams)
        )
        cpu = time.process_time() - cpu
        await done
        await manager.aclose()
        await asyncio.gather(*consumers)
    return cpu / n * 1e6, events[0] - taken


async def main(n: int, runs: int) -> None:
    child = await Child.spawn("benchmarks.bench_channels")
    try:
        market_now = int(await child.ask("NOW"))
        symbols = (await child.ask("SYMBOLS")).split()
        print(f"CPU per push, {n:,} pushes per run, median of {runs} runs (raw and stream "
              f"alternating); ratio = raw / stream, >= 1.0: the stream path costs no "
              f"more")  # fmt: skip
        print(f"{'channel':<14} {'topics':>6} {'raw us':>8} {'stream us':>10} {'ratio':>6} "
              f"{'events':>8}")  # fmt: skip
        for channel in CHANNELS:
            if channel is Channel.BOOK:
                continue  # (a replayed delta breaks its prevTs chain: bench_book measures it)
            wanted = configs(channel, symbols, market_now)
            topics = topics_of(wanted)
            raws, streams, events = [], [], []
            for _ in range(runs):
                cpu, taken = await stream_run(child, wanted, n)
                streams.append(cpu)
                events.append(taken)
                raws.append(await raw_run(child, topics, n))
            raw, full = statistics.median(raws), statistics.median(streams)
            print(f"{channel:<14} {len(topics):>6} {raw:>8.2f} {full:>10.2f} {raw / full:>5.2f}x "
                  f"{statistics.median(events):>8,.0f}")  # fmt: skip
        if Channel.TRADES not in CHANNELS:
            print("(trades: not served yet, not measured)")
        if Channel.BOOK in CHANNELS:
            print("(book: see benchmarks.bench_book)")
    finally:
        await child.close()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_channels")
    parser.add_argument("--quick", action="store_true", help="20,000 pushes per run, one run")
    parser.add_argument("--smoke", action="store_true", help="2,000 pushes, one run (tests)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
    else:
        n = 2_000 if args.smoke else 20_000 if args.quick else 200_000
        asyncio.run(main(n, 1 if args.quick or args.smoke else args.runs))


if __name__ == "__main__":
    cli()
