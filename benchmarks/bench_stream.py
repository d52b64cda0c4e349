"""Live stream benchmarks: throughput, latency, memory and recovery of the full stream path.

The simulated exchange runs in a child process (``--serve``), so that the client under test has
the event loop (and a core) to itself, as it would against the real exchange. Figures:

* throughput: the simulator's blast mode over one loopback connection carrying up to 100
  topics, through the full stream path (routing, finality, fan-out, queue, exact decimals for
  what the consumer takes, consumer) vs a raw ``aiohttp`` receive + ``json.loads`` loop on the
  same messages; goal >= 1.0x (issue 8). Shown by wall clock and by CPU time per message (the
  latter is what the client costs, whatever the sender and the other processes on the machine
  do);
* latency: pushes paced at 10,000 messages/s across the same topics; each push carries its
  wall-clock send time in microseconds (in its volume field), read back by the consumer of the
  event; goal p99 <= 1 ms. The same pushes read by a bare receive loop give the floor that the
  sender's pacing and the loopback hop set;
* memory: RSS growth of the client over 1,000,000 updates after a 100,000-update warm-up;
  goal <= 5 MB;
* recovery: the exchange comes back after a 10-market-minute outage; time until every stream's
  gap is filled from REST (10 requests/s) and live pushes flow again; goal <= 1.5 s. Also shown:
  an outage during which connections are refused, where reconnect backoff adds its share.

Topics are chosen so that none of their candles closes during a run: the blast stamps pushes
with wall-clock time, and a push sent at or after its candle's end would (rightly) be final.

Run: ``python -m benchmarks.bench_stream`` (about a minute; prints the figures of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.registry import CHANNELS
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.stream import LiveStream, StreamManager, StreamOptions
from woox_datasource.timeframes import BY_WS_TYPE, Timeframe, floor_open, next_open

SYMBOLS = (
    "SPOT_BTC_USDT", "SPOT_ETH_USDT", "PERP_BTC_USDT", "PERP_ETH_USDT", "SPOT_WOO_USDT",
    "PERP_SOL_USDT", "SPOT_1INCH_USDT", "PERP_0G_USDT", "SPOT_LUNA_USDT",
)  # fmt: skip
Topics = list[tuple[str, Timeframe]]


# ---------------------------------------------------------------------------------------------
# The child: a simulator driven by commands on stdin
# ---------------------------------------------------------------------------------------------


async def _paced(sim: Any, rate: int, seconds: float) -> int:
    """Send ``rate`` stamped pushes per second for ``seconds``, round-robin over every subscribed
    topic. Volume = send time in wall-clock microseconds, so the receiver can time each one."""
    from woox_datasource.simulator import frames  # the simulator's own encoder

    hub = sim._hub  # a benchmark may look inside; the blast API has no pacing
    now = sim.clock.now_ms()
    targets = []
    for conn in hub.connections.values():
        conn.paused = True
        for sub in conn.subs.values():
            iv = sub.topic.interval
            units = sub.topic.listing.model.units(iv, iv.index_of(now)).provisional(now)
            targets.append((conn.ws, sub.topic, units, 10**units.volume_dp))
    total, sent = int(rate * seconds), 0
    started = time.perf_counter()
    try:
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * rate) + 1)
            while sent < due:
                ws, topic, units, scale = targets[sent % len(targets)]
                stamp = time.time_ns()
                ms = stamp // 1_000_000
                text = frames.push(topic, units._replace(volume=stamp // 1000 * scale), ms, ms, ms)
                await ws.send_str(text)
                sent += 1
            await asyncio.sleep(0.0002)
    finally:
        for conn in hub.connections.values():
            conn.paused = False
    return sent


async def serve(speed: float, rate_limit: int) -> None:
    from woox_datasource.simulator import MarketClock, WooXSimulator

    clock = MarketClock(time.time_ns() // 1_000_000 - 1000, speed=speed)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with WooXSimulator(clock=clock, rate_limit=rate_limit or None) as sim:
        print(f"READY {sim.ws_url} {sim.rest_url}", flush=True)
        while line := (await reader.readline()).decode().split():
            cmd, args = line[0], line[1:]
            answer: object = ""
            if cmd == "BLAST":
                report = await sim.blast(int(args[0]))
                answer = f"{report.messages} {report.elapsed_s:.6f}"
            elif cmd == "PACED":
                answer = await _paced(sim, int(args[0]), float(args[1]))
            elif cmd == "OUTAGE":  # the market moves on while every connection is gone
                sim.clock.advance(int(args[0]))
                await sim.drop_connections()
            elif cmd == "DOWN":  # refuse handshakes for a while, drop everything now
                sim.refuse_connections(float(args[0]))
                await sim.drop_connections()
            elif cmd == "NOW":
                answer = sim.clock.now_ms()
            elif cmd == "QUIT":
                break
            print(f"DONE {answer}", flush=True)


class Child:
    """The simulator process, and a line protocol to drive it."""

    def __init__(self, proc: asyncio.subprocess.Process, ws_url: str, rest_url: str) -> None:
        self.proc, self.ws_url, self.rest_url = proc, ws_url, rest_url

    @classmethod
    async def start(cls, speed: float, rate_limit: int = 0) -> Child:
        return await cls.spawn(
            "benchmarks.bench_stream", "--speed", str(speed), "--rate-limit", str(rate_limit)
        )

    @classmethod
    async def spawn(cls, module: str, *args: str) -> Child:
        """Run ``python -m module --serve *args``, which prints ``READY ws_url rest_url`` and
        then answers one ``DONE ...`` line per command line."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "--serve", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = (await proc.stdout.readline()).decode().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"simulator child did not start: {ready}")
        return cls(proc, ready[1], ready[2])

    async def send(self, command: str) -> Awaitable[str]:
        """Send a command now; the returned awaitable gives its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        stdout = self.proc.stdout

        async def answer() -> str:
            line = (await stdout.readline()).decode()
            if not line.startswith("DONE"):
                raise RuntimeError(f"child answered {line!r} to {command!r}")
            return line[4:].strip()

        return asyncio.ensure_future(answer())

    async def ask(self, command: str) -> str:
        return await (await self.send(command))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ask("QUIT")
        await self.proc.wait()


# ---------------------------------------------------------------------------------------------
# The client side
# ---------------------------------------------------------------------------------------------


def pick_topics(
    market_now: int, count: int, symbols: Sequence[str] = SYMBOLS, margin_ms: int = 300_000
) -> list[tuple[str, Timeframe]]:
    """(symbol, timeframe) pairs whose current candle stays open for the whole run."""
    wall = time.time_ns() // 1_000_000
    out: Topics = []
    for tf in BY_WS_TYPE.values():
        if next_open(tf, floor_open(tf, market_now)) > wall + margin_ms:
            out.extend((symbol, tf) for symbol in symbols)
    return out[:count]


def manager_for(child: Child, **options: Any) -> StreamManager:
    budget = RateBudget()
    return StreamManager(
        child.ws_url,
        lambda session: RestClient(session, child.rest_url, budget=budget),
        StreamOptions(**options),
        channels=CHANNELS,
    )


async def start_all(
    manager: StreamManager, session: aiohttp.ClientSession, topics: Topics
) -> list[LiveStream]:
    streams = [await manager.start(session, StreamConfig(s, tf.interval)) for s, tf in topics]
    for stream in streams:
        async for event in stream:
            if isinstance(event, StatusEvent) and event.kind is StatusKind.CONNECTED:
                break
    return streams


async def drain(stream: LiveStream, on_event: Callable[[CandleEvent], None]) -> None:
    async for event in stream:
        if isinstance(event, CandleEvent):
            on_event(event)


async def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:  # noqa: ASYNC109
    """Poll a counter of the stream manager (it exposes counts, not events)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def raw_throughput(child: Child, topics: Topics, n: int) -> tuple[float, float]:
    """(messages/s, CPU us/message) of a bare aiohttp receive + json.loads loop on the blast."""
    async with aiohttp.ClientSession() as session, session.ws_connect(child.ws_url) as ws:
        await subscribe_raw(ws, topics)
        done = await child.send(f"BLAST {n}")
        started, cpu, count = time.perf_counter(), time.process_time(), 0
        while count < n:
            doc = json.loads((await ws.receive()).data)
            count += "topic" in doc
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await done
    return n / elapsed, cpu / n * 1e6


async def stream_throughput(child: Child, topics: Topics, n: int) -> tuple[float, float, int]:
    """(messages/s, CPU us/message, events received) of the full stream path on the blast."""
    manager = manager_for(child)
    async with aiohttp.ClientSession() as session:
        streams = await start_all(manager, session, topics)
        received = 0

        def count(_: CandleEvent) -> None:
            nonlocal received
            received += 1

        consumers = [asyncio.create_task(drain(s, count)) for s in streams]
        base = manager.stats.pushes
        done = await child.send(f"BLAST {n}")
        started, cpu = time.perf_counter(), time.process_time()
        await wait_for(
            lambda: manager.stats.pushes - base >= n and all(s.pending == 0 for s in streams)
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await done
        await manager.aclose()
        await asyncio.gather(*consumers)
    return n / elapsed, cpu / n * 1e6, received


async def subscribe_raw(ws: aiohttp.ClientWebSocketResponse, topics: Topics) -> None:
    names = [wire.kline_topic(s, tf.ws_type or "") for s, tf in topics]
    for i in range(0, len(names), wire.MAX_TOPICS_PER_SUBSCRIBE):
        await ws.send_str(wire.subscribe_frame(str(i), names[i : i + 10]))
        while "cmd" not in json.loads((await ws.receive()).data):
            pass


async def raw_latency(child: Child, topics: Topics, rate: int, seconds: float) -> list[int]:
    """The same stamped pushes read by a bare receive + json.loads loop: the floor that the
    sender's pacing and the loopback hop set, for comparison."""
    samples: list[int] = []
    total = int(rate * seconds)
    async with aiohttp.ClientSession() as session, session.ws_connect(child.ws_url) as ws:
        await subscribe_raw(ws, topics)
        done = await child.send(f"PACED {rate} {seconds}")
        while len(samples) < total:
            doc = json.loads((await ws.receive()).data)
            stamp = doc["data"]["v"] if "topic" in doc else ""
            if stamp.isdigit() and int(stamp) > 10**15:  # (not the subscription's own push)
                samples.append(time.time_ns() // 1000 - int(stamp))
        await done
    return samples


async def latency(child: Child, topics: Topics, rate: int, seconds: float) -> list[int]:
    """Push -> event latencies (us) at a paced rate."""
    manager = manager_for(child)
    samples: list[int] = []

    def record(event: CandleEvent) -> None:
        if event.candle.volume > 10**15:  # stamped by the paced sender (us since the epoch)
            samples.append(time.time_ns() // 1000 - int(event.candle.volume))

    async with aiohttp.ClientSession() as session:
        streams = await start_all(manager, session, topics)
        consumers = [asyncio.create_task(drain(s, record)) for s in streams]
        samples.clear()  # the subscription's own push is not stamped
        await child.ask(f"PACED {rate} {seconds}")
        await wait_for(lambda: all(s.pending == 0 for s in streams))
        await manager.aclose()
        await asyncio.gather(*consumers)
    return samples


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def memory(child: Child, topics: Topics, warm: int, total: int) -> tuple[int, int]:
    """RSS after a warm-up and after ``total`` updates through the full path."""
    manager = manager_for(child)
    async with aiohttp.ClientSession() as session:
        streams = await start_all(manager, session, topics)
        consumers = [asyncio.create_task(drain(s, lambda _: None)) for s in streams]
        base = manager.stats.pushes
        chunk = 100_000
        sent = 0
        before = 0
        while sent < total:
            await child.ask(f"BLAST {chunk}")
            sent += chunk
            target = base + sent
            await wait_for(lambda: manager.stats.pushes >= target)  # noqa: B023
            if sent == warm:
                before = rss_bytes()
        after = rss_bytes()
        await manager.aclose()
        await asyncio.gather(*consumers)
    return before, after


async def recovery(outage: str, symbols: int = 3) -> tuple[float, float]:
    """Seconds from the exchange being back to (a) every stream reconnected, (b) every gap
    filled and live pushes flowing again (the first socket event after the fill)."""
    child = await Child.start(speed=60.0, rate_limit=10)
    manager = manager_for(child)
    try:
        async with aiohttp.ClientSession() as session:
            topics = [(s, BY_WS_TYPE[t]) for s in SYMBOLS[:symbols] for t in ("1m", "5m")]
            streams = await start_all(manager, session, topics)
            seen: dict[str, list[tuple[float, object]]] = {s.id: [] for s in streams}

            async def watch(stream: LiveStream) -> None:
                async for event in stream:
                    seen[stream.id].append((time.perf_counter(), event))

            def recovered(log: list[tuple[float, object]]) -> float | None:
                """Time of the first live candle event after the reconnect (and its fill)."""
                lost = [i for i, (_, e) in enumerate(log) if isinstance(e, StatusEvent)
                        and e.kind is StatusKind.RECONNECTING]  # fmt: skip
                if not lost:
                    return None
                after = log[lost[-1] :]
                filled = [i for i, (_, e) in enumerate(after) if isinstance(e, StatusEvent)
                          and e.kind is StatusKind.GAP_FILLED]  # fmt: skip
                rest = after[filled[-1] :] if filled else after
                ok = [t for t, e in rest if isinstance(e, CandleEvent)]
                return ok[0] if ok else None

            def connected_at(log: list[tuple[float, object]]) -> float:
                return max(t for t, e in log if isinstance(e, StatusEvent)
                           and e.kind is StatusKind.CONNECTED)  # fmt: skip

            watchers = [asyncio.create_task(watch(s)) for s in streams]
            try:
                await asyncio.sleep(0.5)
                if outage == "gap":
                    await child.ask("OUTAGE 600000")  # ten market minutes missed
                    back = time.perf_counter()
                else:
                    await child.ask("DOWN 2.0")  # refused for 2 s while the market moves on
                    back = time.perf_counter() + 2.0
                await wait_for(lambda: all(recovered(v) for v in seen.values()), timeout=60)
                reconnected = max(connected_at(v) for v in seen.values()) - back
                live = max(recovered(v) or 0.0 for v in seen.values()) - back
            finally:
                await manager.aclose()
                await asyncio.gather(*watchers, return_exceptions=True)
    finally:
        await child.close()
    return reconnected, live


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


async def main(quick: bool) -> None:
    n = 100_000 if quick else 300_000
    child = await Child.start(speed=0.0)
    try:
        market_now = int(await child.ask("NOW"))
        topics = pick_topics(market_now, 100)
        print(f"topics: {len(topics)} on one connection (candles open for the whole run)")

        results: list[tuple[float, ...]] = []
        for _ in range(1 if quick else 3):
            raw_run = await raw_throughput(child, topics, n)
            full_run = await stream_throughput(child, topics, n)
            results.append((*raw_run, *full_run))
        raw, raw_cpu, full, full_cpu, events = (
            statistics.median(r[i] for r in results) for i in range(5)
        )
        print(f"throughput, {n:,} blast messages (median of {len(results)}):")
        print(f"  wall clock: raw aiohttp+json.loads {raw:,.0f} msg/s, stream path {full:,.0f} "
              f"msg/s -> {full / raw:.2f}x (goal >= 1.0x)")  # fmt: skip
        print(
            f"  CPU per message: raw {raw_cpu:.2f} us, stream path {full_cpu:.2f} us -> "
            f"capacity {raw_cpu / full_cpu:.2f}x; {events:,.0f} events after conflation"
        )

        seconds = 2.0 if quick else 5.0
        floor = await raw_latency(child, topics, 10_000, seconds)
        samples = await latency(child, topics, 10_000, seconds)
        for what, got in (("raw receive+json.loads", floor), ("stream path", samples)):
            print(f"latency at 10,000 msg/s over {len(topics)} topics, {what}: "
                  f"p50 {pct(got, 0.5):.3f} ms, p90 {pct(got, 0.9):.3f} ms, "
                  f"p99 {pct(got, 0.99):.3f} ms, max {max(got) / 1000:.3f} ms "
                  f"({len(got):,} events; goal p99 <= 1 ms)")  # fmt: skip

        total = 300_000 if quick else 1_000_000
        before, after = await memory(child, topics, 100_000, total)
        print(
            f"memory over {total:,} updates: RSS {before / 2**20:.1f} MB after 100,000 -> "
            f"{after / 2**20:.1f} MB, growth {(after - before) / 2**20:.2f} MB (goal <= 5 MB)"
        )
    finally:
        await child.close()

    for outage, what in (("gap", "drop + 10 market minutes missed"),
                         ("down", "refused for 2 s (2 market minutes)")):  # fmt: skip
        runs = [await recovery(outage) for _ in range(1 if quick else 3)]
        reconnect = statistics.median(r[0] for r in runs)
        live = statistics.median(r[1] for r in runs)
        print(
            f"recovery, 6 streams, {what}: reconnected {reconnect:.3f} s, gaps filled and live "
            f"{live:.3f} s after the exchange was back (median of {len(runs)}; goal <= 1.5 s)"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_stream")
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--speed", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--rate-limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.speed, args.rate_limit))
    else:
        asyncio.run(main(args.quick))


if __name__ == "__main__":
    cli()
