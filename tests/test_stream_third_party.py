"""A third-party host that has nothing of this project but the entry point: ``pluggy`` and
``importlib.metadata`` find the plugin, a config of the host's own (the plugin rebuilds it as the
contract's) starts channels on one session, events are read by their attributes, and stopping
leaves nothing behind. The simulator stands in for WOO X and tells the truth to compare with."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
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


async def test_a_pluggy_only_host_streams_bbo_and_stops_cleanly() -> None:
    pm = load()
    async with WooXSimulator(speed=60.0) as sim, aiohttp.ClientSession() as session:
        pm.hook.configure(settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        try:
            (info,) = pm.hook.datasource_info()
            assert "bbo" in {str(c.channel) for c in info.channels}
            (starting,) = pm.hook.start_stream(
                session=session, config=HostConfig("PERP_BTC_USDT", "bbo")
            )
            stream = await starting
            quotes = await data_events(stream, 3)
            assert [type(q).__name__ for q in quotes] == ["QuoteEvent"] * 3
            for quote in quotes:
                truth = sim.bbo("PERP_BTC_USDT", at_ms=quote.time)
                got = tuple(str(x) for x in (quote.bid_price, quote.bid_size, quote.ask_price,
                                             quote.ask_size))  # fmt: skip
                assert got == (truth.bid_price, truth.bid_size, truth.ask_price, truth.ask_size)
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
