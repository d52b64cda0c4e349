"""The whole venue in one process: every instrument of a WOO X-size venue (313) on every live
timeframe (14), 4,382 candle streams started through the plugin's hooks by the reference host,
against the simulator at real speed in another process.

Figures:

* subscription: time until every stream is connected, the SUBSCRIBE frames the exchange
  received (ten topics each would be 439) and the connections (44);
* steady state: CPU % of one core (this process and the simulator's), RSS over the whole run;
* three faults, with the time until every stream is connected again (subscribed, acks in) and
  until its first candle after that (its gap filled from REST first, if it had one):
  - drop-then-drop: every connection dropped twice, about 30 s apart, inside the process's
    first five minutes. WOO X allows 100 new connections per 5 minutes per IP: 44 + 44 + 44
    does not fit, so after the second drop 12 connections come back at once and the others when
    the first ones leave the window, their streams told so;
  - refuse-then-drop: the exchange refuses handshakes for 3 s and drops every connection;
  - long refusal: the same for 60 s.
  Before each of the last two, the benchmark waits until the budget holds a full reconnect plus
  room for probes, as in a process that has been running for a while, and says how long.
* stopping everything (the host's shutdown): its duration.

The connection budget, backoff and REST rate are the plugin's defaults (WOO X's limits). Times
are wall clock on a shared machine: compare them with the budget arithmetic, not to the ms.

Run: ``python -m benchmarks.bench_venue`` (about 15 minutes; ``--steady`` shortens the steady
phase, ``--skip`` leaves out scenarios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter

from benchmarks.bench_stream import Child, rss_bytes
from host_stub.endpoints import resolve
from host_stub.hosting import load, plugin_session
from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig
from woox_datasource.plugin import WooXDatasource
from woox_datasource.stream import LiveStream

LIVE_TYPES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "3d", "1w", "1M")

# ---------------------------------------------------------------------------------------------
# The child: the simulator with the venue's symbols, driven by commands on stdin
# ---------------------------------------------------------------------------------------------


async def serve() -> None:
    from woox_datasource.simulator import WooXSimulator, venue_symbols

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with WooXSimulator(symbols=venue_symbols(), rate_limit=10) as sim:
        print(f"READY {sim.ws_url} {sim.rest_url}", flush=True)
        while line := (await reader.readline()).decode().split():
            cmd, args = line[0], line[1:]
            answer: object = ""
            if cmd == "DROP":
                await sim.drop_connections()
            elif cmd == "REFUSE":  # refuse handshakes from now on, for a while
                sim.refuse_connections(float(args[0]))
            elif cmd == "STATS":
                commands = Counter(
                    r.parsed.get("cmd") for r in sim.ws_received if isinstance(r.parsed, dict)
                )
                answer = json.dumps({
                    "subscribe": commands["SUBSCRIBE"], "opened": sim.connections_opened,
                    "refused": sim.connections_refused, "active": sim.active_connections,
                    "symbols": len(sim.symbols),
                })  # fmt: skip
            elif cmd == "QUIT":
                break
            print(f"DONE {answer}", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# The host's side
# ---------------------------------------------------------------------------------------------


def quantiles(times: list[float]) -> str:
    if not times:
        return "none"
    times = sorted(times)
    at = [times[min(len(times) - 1, int(q * len(times)))] for q in (0.25, 0.5, 0.99)]
    return (f"p25 {at[0]:.1f} s, p50 {statistics.median(times):.1f} s, p99 {at[2]:.1f} s, "
            f"max {times[-1]:.1f} s")  # fmt: skip


class Watch:
    """Every stream's events, reduced to what the figures need (4,382 consumers, one each)."""

    def __init__(self, streams: list[LiveStream]) -> None:
        self.streams = streams
        self.since = 0.0
        self.connected: dict[str, float] = {}
        self.live: dict[str, float] = {}
        self.filled: list[float] = []
        self.stale: Counter[str] = Counter()
        self.finals = 0
        self.tasks = [asyncio.create_task(self._consume(s)) for s in streams]

    def reset(self) -> None:
        """From now on, record when each stream is connected again, then live again."""
        self.since = time.monotonic()
        self.connected.clear()
        self.live.clear()
        self.filled.clear()
        self.stale.clear()

    async def _consume(self, stream: LiveStream) -> None:
        sid = stream.id
        async for event in stream:
            now = time.monotonic()
            if isinstance(event, CandleEvent):
                self.finals += event.final
                if sid in self.connected and sid not in self.live:
                    self.live[sid] = now
            elif isinstance(event, StatusEvent):
                if event.kind is StatusKind.CONNECTED and sid not in self.connected:
                    if now >= self.since:
                        self.connected[sid] = now
                elif event.kind is StatusKind.GAP_FILLED and now >= self.since:
                    self.filled.append(now)
                elif event.kind is StatusKind.STALE:
                    what = event.reason.split(";")[0].split("(")[0]
                    self.stale["".join(c for c in what if not c.isdigit()).strip()] += 1

    async def all_connected(self, timeout: float) -> bool:  # noqa: ASYNC109 - reported
        deadline = time.monotonic() + timeout
        while len(self.connected) < len(self.streams) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return len(self.connected) == len(self.streams)

    def report(self, origin: float) -> str:
        """Seconds from ``origin`` until streams were connected again (subscribed, acks in)
        and until their first candle (after any gap fill; a quiet candle pushes nothing until
        a trade or its close), and the gap fills done."""
        connected = [t - origin for t in self.connected.values()]
        first = [t - origin for t in self.live.values()]
        filled = f", the last at {max(self.filled) - origin:.1f} s" if self.filled else ""
        return (
            f"{len(connected)}/{len(self.streams)} connected again: {quantiles(connected)}; "
            f"first candle: {quantiles(first)}; {len(self.filled)} gap fills{filled}"
        )


class Rss:
    """RSS of this process every 10 s, for the "over time" line (and the most of the connection
    budget in use, sampled every second)."""

    def __init__(self, ds: WooXDatasource) -> None:
        self.started = time.monotonic()
        self.samples: list[tuple[float, float]] = []
        self.most_used = 0
        self._budget = ds.stream_manager().budget
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        tick = 0
        while True:
            if tick % 10 == 0:
                self.samples.append((time.monotonic() - self.started, rss_bytes() / 2**20))
            self.most_used = max(self.most_used, self._budget.used)
            tick += 1
            await asyncio.sleep(1)

    def line(self) -> str:
        step = max(1, len(self.samples) // 12)
        return ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in self.samples[::step])


async def budget_room(ds: WooXDatasource, needed: int) -> float:
    """Wait until the connection budget has ``needed`` free; returns how long that took."""
    manager = ds.stream_manager()
    started = time.monotonic()
    while manager.budget.limit - manager.budget.used < needed:  # noqa: ASYNC110 - a budget
        await asyncio.sleep(1)
    return time.monotonic() - started


async def fault(
    child: Child, watch: Watch, refuse_s: float, within: float, settle: float = 60.0
) -> float:
    """Refuse for ``refuse_s`` (if any), drop everything; returns when the exchange accepted
    again. Waits (up to ``within`` seconds) until every stream is connected again, then
    ``settle`` more for first candles and gap fills (a 1m fill after a minute boundary waits
    for 313 reads at 10 per second)."""
    watch.reset()
    if refuse_s:
        await child.ask(f"REFUSE {refuse_s}")
    dropped = time.monotonic()
    await child.ask("DROP")
    await watch.all_connected(within)
    await asyncio.sleep(settle)
    return dropped + refuse_s


async def run(args: argparse.Namespace) -> None:
    child = await Child.spawn("benchmarks.bench_venue")
    try:
        plugin = load("woox")
        [ds] = [p for p in plugin.manager.get_plugins() if isinstance(p, WooXDatasource)]
        endpoints = resolve(environment="production", rest_url=None, ws_url=None,
                            simulator=child.rest_url)  # fmt: skip
        stats = json.loads(await child.ask("STATS"))
        async with plugin_session(plugin, endpoints, allow=[]) as session:
            markets = await plugin.call("list_markets", session=session)
            names = sorted(m.symbol for m in markets)
            labels = {tf.label: tf.interval for tf in plugin.call("datasource_info").timeframes}
            wanted = [(s, labels[t]) for s in names for t in LIVE_TYPES]
            print(f"venue: {stats['symbols']} instruments x {len(LIVE_TYPES)} live timeframes = "
                  f"{len(wanted)} streams; simulator at real speed in another process")  # fmt: skip
            rss = Rss(ds)
            cpu0, child0, wall0 = time.process_time(), cpu_seconds(child.proc.pid), time.monotonic()
            streams: list[LiveStream] = []
            for symbol, interval in wanted:
                config = StreamConfig(symbol, interval)
                streams.append(await plugin.call("start_stream", session=session, config=config))
            watch = Watch(streams)
            while len(watch.connected) < len(streams):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            subscribed = time.monotonic() - wall0
            stats = json.loads(await child.ask("STATS"))
            manager = ds.stream_manager()
            least = sum(-(-len(s.topics) // 10) for p in manager._pools.values() for s in p.slots)
            print(f"subscription: all {len(streams)} connected in {subscribed:.2f} s; "
                  f"{stats['subscribe']} SUBSCRIBEs (ten topics each: {least}), "
                  f"{stats['opened']} connections")  # fmt: skip

            await asyncio.sleep(args.steady)
            wall = time.monotonic() - wall0
            cpu = (time.process_time() - cpu0) / wall * 100
            child_cpu = (cpu_seconds(child.proc.pid) - child0) / wall * 100
            print(f"steady ({wall:.0f} s from the first start): plugin process {cpu:.1f} % of "
                  f"one core, simulator {child_cpu:.1f} %; {watch.finals} finals; "
                  f"RSS {rss.samples[-1][1]:.0f} MB")  # fmt: skip

            slots = sum(len(pool.slots) for pool in manager._pools.values())
            if "drop-drop" not in args.skip:
                used = manager.budget.used
                back = await fault(child, watch, 0.0, within=120, settle=30)
                print(f"drop-then-drop, first drop (budget used before: {used}), from the "
                      f"drop: " + watch.report(back))  # fmt: skip
                used = manager.budget.used
                back = await fault(child, watch, 0.0, within=400)
                print(f"drop-then-drop, second drop ~30 s later (budget used before: {used} of "
                      f"{manager.budget.limit}), from the drop: " + watch.report(back))  # fmt: skip
                print(f"  told while waiting: {dict(watch.stale)}")

            for name, refuse in (("refuse-then-drop", 3.0), ("long refusal", 60.0)):
                if name in args.skip:
                    continue
                waited = await budget_room(ds, 2 * slots + 6)
                before = (manager.budget.used, json.loads(await child.ask("STATS"))["refused"])
                accepting = await fault(child, watch, refuse, within=refuse + 400)
                after = json.loads(await child.ask("STATS"))["refused"]
                print(f"{name} ({refuse:g} s of refusals, then every connection dropped; "
                      f"waited {waited:.0f} s for the budget first, used {before[0]}): "
                      f"{after - before[1]} refused attempts; from the exchange accepting again: "
                      + watch.report(accepting))  # fmt: skip
                print(f"  told while waiting: {dict(watch.stale)}")

            wall = time.monotonic() - wall0
            print(f"whole run {wall:.0f} s: plugin process "
                  f"{(time.process_time() - cpu0) / wall * 100:.1f} % of one core; connection "
                  f"budget at most {rss.most_used} of {manager.budget.limit} used; "
                  f"RSS (MB) over time: {rss.line()}")  # fmt: skip
            started = time.monotonic()
            await plugin.shutdown()
            stop = time.monotonic() - started
            await asyncio.gather(*watch.tasks)
            print(f"shutdown: {stop * 1000:.0f} ms for {len(streams)} streams and "
                  f"{slots} connections")  # fmt: skip
            rss.task.cancel()
    finally:
        await child.close()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_venue")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steady", type=float, default=60.0, help="steady phase, seconds")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["drop-drop", "refuse-then-drop", "long refusal"]
    )
    args = parser.parse_args()
    asyncio.run(serve() if args.serve else run(args))


if __name__ == "__main__":
    cli()
