"""A third-party host with nothing of this project but the entry point (``pluggy`` and
``importlib.metadata``) starts a trades stream and a bbo stream on one session, reads their
events by attribute, and stops both cleanly: nothing left running, no socket left open. The
simulator stands in for WOO X and tells the truth to compare with."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
from collections import Counter
from decimal import Decimal
from typing import Any

import aiohttp
import pluggy

from woox_datasource.simulator import WooXSimulator

SYMBOL = "PERP_BTC_USDT"


@dataclasses.dataclass
class HostConfig:
    """The host's own stream request (the contract's field names, nothing imported)."""

    symbol: str
    channel: str
    interval: int | None = None


def load() -> pluggy.PluginManager:
    (entry,) = importlib.metadata.entry_points(group="plusev.datasources", name="woox")
    pm = pluggy.PluginManager("plusev.datasource")
    assert pm.load_setuptools_entrypoints("plusev.datasources", name=entry.name) == 1
    return pm


async def data_events(stream: Any, n: int) -> list[Any]:
    """The first ``n`` events that are not status events (those have a ``kind``)."""
    got: list[Any] = []
    async with asyncio.timeout(15):
        async for event in stream:
            if not hasattr(event, "kind"):
                got.append(event)
                if len(got) == n:
                    return got
    raise AssertionError("the stream ended early")


def sim_row(t: Any) -> tuple[object, ...]:
    return (t.time, Decimal(t.price), Decimal(t.size), t.side.lower(), t.source == 0)


async def test_a_pluggy_only_host_streams_trades_and_bbo_on_one_session_and_stops() -> None:
    pm = load()
    async with WooXSimulator(speed=600.0) as sim, aiohttp.ClientSession() as session:
        pm.hook.configure(settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        try:
            (info,) = pm.hook.datasource_info()
            assert {"trades", "bbo"} <= {str(c.channel) for c in info.channels}
            streams = []
            for channel in ("trades", "bbo"):
                (starting,) = pm.hook.start_stream(
                    session=session, config=HostConfig(SYMBOL, channel)
                )
                streams.append(await starting)
            tape, quotes = await asyncio.gather(
                data_events(streams[0], 100), data_events(streams[1], 3)
            )
            assert {type(e).__name__ for e in tape} == {"TradeEvent"}
            rows = [(e.trade.time, e.trade.price, e.trade.size, str(e.trade.side),
                     e.trade.external) for e in tape]  # fmt: skip
            end = rows[-1][0]
            truth = [sim_row(t) for t in sim.trades(SYMBOL, rows[0][0], end)]
            assert Counter(r for r in rows if r[0] < end) == Counter(truth)
            assert [r[0] for r in rows] == sorted(r[0] for r in rows)
            for quote in quotes:
                want = sim.bbo(SYMBOL, at_ms=quote.time)
                assert (str(quote.bid_price), str(quote.ask_price)) == (
                    want.bid_price,
                    want.ask_price,
                )
            for stream in streams:
                (stopping,) = pm.hook.stop_stream(stream_id=stream.id)
                await stopping
                assert [e async for e in stream] == []  # the iteration has ended
        finally:
            (closing,) = pm.hook.shutdown()
            await closing
            pm.hook.configure(settings={})
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("woox-stream-")] == []
        async with asyncio.timeout(5):
            while sim.active_connections:  # noqa: ASYNC110 - the server sees the close frame
                await asyncio.sleep(0.01)
