"""``woox-host demo``: the whole product in a minute, with no network.

It starts the WOO X simulator on loopback with a fast market clock (one 1m candle per real
second), admits it through the same ``--allow`` mechanism a user would, and runs markets, then
history, then a live stream through two injected disconnects (one of them with reconnects refused
for a while), checking at the end that the final candles are contiguous and unique: the gaps were
filled, not skipped. This module is the one place the host knows about WOO X, because the
simulator it starts is WOO X's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
from typing import TextIO

import aiohttp

from host_stub import output
from host_stub.endpoints import Endpoints
from host_stub.hosting import intervals, plugin_session
from host_stub.loader import LoadedPlugin
from host_stub.spec import (
    OHLCV,
    CandleEvent,
    HistoryRequest,
    Market,
    StatusEvent,
    StatusKind,
    StreamConfig,
    StreamEvent,
)
from host_stub.streaming import run_stream
from woox_datasource.simulator import WooXSimulator

SPEED = 60.0
SYMBOL = "SPOT_BTC_USDT"
MINUTE = 60
HOUR_MS = 3_600_000


async def run_demo(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    async with WooXSimulator(speed=SPEED) as sim:
        port = sim.rest_url.rsplit(":", 1)[1]
        allow = [f"http://127.0.0.1:{port}/*", f"ws://127.0.0.1:{port}/*"]
        out.write(f"== WOO X simulator at {sim.rest_url} (market clock {SPEED:g}x real time)\n")
        out.write("   admitted explicitly: " + " ".join(f"--allow '{a}'" for a in allow) + "\n")
        endpoints = Endpoints("production", sim.rest_url, sim.ws_url)
        _, labels = intervals(plugin)
        async with plugin_session(plugin, endpoints, allow) as session:
            markets: list[Market] = await plugin.call("list_markets", session=session)
            spot = sum(m.kind.value == "spot" for m in markets)
            out.write(
                f"\n== 1. markets: {len(markets)} ({spot} spot, {len(markets) - spot} perp)\n"
            )
            output.write_markets(out, sorted(markets, key=lambda m: m.symbol)[:5], "table")

            end = sim.clock.now_ms() // HOUR_MS * HOUR_MS
            request = HistoryRequest(SYMBOL, 3600, start=end - 48 * HOUR_MS, end=end)
            candles: list[OHLCV] = []
            async for batch in plugin.call("fetch_history", session=session, request=request):
                candles.extend(batch)
            out.write(
                f"\n== 2. history: {SYMBOL} 1h, the last 48 closed hours: {len(candles)} candles\n"
            )
            output.CandleWriter(out, "table", labels).write(candles[-5:])

            out.write(
                f"\n== 3. stream: {SYMBOL} 1m final candles, 5 minutes of backfill, "
                f"{args.seconds:g} s, two disconnects injected\n"
            )
            out.flush()
            config = StreamConfig(
                SYMBOL, MINUTE, backfill_from=sim.clock.now_ms() - 5 * 60_000, finals_only=True
            )
            writer = output.CandleWriter(out, "table", labels)
            finals, kinds = await _stream_with_faults(plugin, session, config, sim, args, writer)
    return _verdict(finals, kinds, out)


async def _stream_with_faults(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    config: StreamConfig,
    sim: WooXSimulator,
    args: argparse.Namespace,
    writer: output.CandleWriter,
) -> tuple[list[OHLCV], list[StatusKind]]:
    finals: list[OHLCV] = []
    kinds: list[StatusKind] = []

    async def chaos() -> None:
        await asyncio.sleep(args.seconds * 0.25)
        sys.stderr.write("-- demo: dropping every connection\n")
        await sim.drop_connections()
        await asyncio.sleep(args.seconds * 0.2)
        sys.stderr.write("-- demo: dropping every connection and refusing reconnects for 2 s\n")
        sim.refuse_connections(2.0)
        await sim.drop_connections()

    def count(event: StreamEvent) -> None:
        if isinstance(event, CandleEvent):
            finals.append(event.candle)
        elif isinstance(event, StatusEvent):
            kinds.append(event.kind)

    faults = asyncio.create_task(chaos())
    try:
        await run_stream(plugin, session, [config], writer, seconds=args.seconds, on_event=count)
    finally:
        faults.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await faults
    return finals, kinds


def _verdict(finals: list[OHLCV], kinds: list[StatusKind], out: TextIO) -> int:
    opens = [c.open_time for c in finals]
    contiguous = all(b.open_time == a.close_time for a, b in itertools.pairwise(finals))
    unique = len(set(opens)) == len(opens)
    reconnects = kinds.count(StatusKind.RECONNECTING)
    filled = kinds.count(StatusKind.GAP_FILLED)
    ok = bool(finals) and contiguous and unique and reconnects >= 2 and filled >= 1
    out.write(
        f"\n== summary: {len(finals)} final candles, "
        f"{'contiguous' if contiguous else 'WITH HOLES'}, "
        f"{'no duplicate' if unique else 'WITH DUPLICATES'}; "
        f"{reconnects} reconnects, {filled} gaps filled from REST -> {'OK' if ok else 'FAILED'}\n"
    )
    return 0 if ok else 1
