"""A third-party host that has nothing of this project but the entry point: ``pluggy`` and
``importlib.metadata`` find the plugin, a config of the host's own (the plugin rebuilds it as the
contract's) starts channels on one session (bbo alone; trades and bbo together), events are read
by their attributes, and stopping leaves nothing behind. The simulator stands in for WOO X and
tells the truth to compare with."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pluggy

from woox_datasource.simulator import WooXSimulator


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


SYMBOL = "PERP_BTC_USDT"


@asynccontextmanager
async def hosted(speed: float) -> AsyncIterator[tuple[Any, WooXSimulator, aiohttp.ClientSession]]:
    """The plugin loaded and pointed at a simulator; on the way out it is shut down, and neither
    a stream task nor a connection may be left."""
    pm = load()
    async with WooXSimulator(speed=speed) as sim, aiohttp.ClientSession() as session:
        pm.hook.configure(settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        try:
            yield pm, sim, session
        finally:
            (closing,) = pm.hook.shutdown()
            await closing
            pm.hook.configure(settings={})
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("woox-stream-")] == []
        async with asyncio.timeout(5):
            while sim.active_connections:  # noqa: ASYNC110 - the server sees the close frame
                await asyncio.sleep(0.01)


async def start(pm: Any, session: aiohttp.ClientSession, channel: str) -> Any:
    (starting,) = pm.hook.start_stream(session=session, config=HostConfig(SYMBOL, channel))
    return await starting


async def stop(pm: Any, stream: Any) -> None:
    (stopping,) = pm.hook.stop_stream(stream_id=stream.id)
    await stopping
    assert [e async for e in stream] == []  # the iteration has ended


def assert_quote(sim: WooXSimulator, quote: Any) -> None:
    assert type(quote).__name__ == "QuoteEvent"
    truth = sim.bbo(SYMBOL, at_ms=quote.time)
    got = tuple(str(x) for x in (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size))
    assert got == (truth.bid_price, truth.bid_size, truth.ask_price, truth.ask_size)


async def test_a_pluggy_only_host_streams_bbo_and_stops_cleanly() -> None:
    async with hosted(speed=60.0) as (pm, sim, session):
        (info,) = pm.hook.datasource_info()
        assert "bbo" in {str(c.channel) for c in info.channels}
        stream = await start(pm, session, "bbo")
        for quote in await data_events(stream, 3):
            assert_quote(sim, quote)
        await stop(pm, stream)


def sim_row(t: Any) -> tuple[object, ...]:
    return (t.time, Decimal(t.price), Decimal(t.size), t.side.lower(), t.source == 0)


async def test_a_pluggy_only_host_streams_trades_and_bbo_on_one_session_and_stops() -> None:
    async with hosted(speed=600.0) as (pm, sim, session):
        (info,) = pm.hook.datasource_info()
        assert {"trades", "bbo"} <= {str(c.channel) for c in info.channels}
        trades, bbo = [await start(pm, session, channel) for channel in ("trades", "bbo")]
        tape, quotes = await asyncio.gather(data_events(trades, 100), data_events(bbo, 3))
        assert {type(e).__name__ for e in tape} == {"TradeEvent"}
        rows = [(e.trade.time, e.trade.price, e.trade.size, str(e.trade.side), e.trade.external)
                for e in tape]  # fmt: skip
        end = rows[-1][0]
        truth = [sim_row(t) for t in sim.trades(SYMBOL, rows[0][0], end)]
        assert Counter(r for r in rows if r[0] < end) == Counter(truth)
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        for quote in quotes:
            assert_quote(sim, quote)
        for stream in (trades, bbo):
            await stop(pm, stream)
