"""The whole path a terminal takes: loader -> policed session -> plugin hooks -> simulator."""

from __future__ import annotations

import asyncio

import pytest

from host_stub.loader import LoadedPlugin, discover
from host_stub.netpolicy import create_session
from host_stub.spec import (
    CandleEvent,
    HistoryRequest,
    NetworkNotAllowed,
    StatusEvent,
    StatusKind,
    Stream,
    StreamConfig,
)
from woox_datasource.simulator import WooXSimulator

LOOPBACK = ["http://127.0.0.1:*/*", "ws://127.0.0.1:*/*"]
MINUTE_MS = 60_000


async def drain(stream: Stream) -> None:
    async for _ in stream:
        pass


def woox() -> LoadedPlugin:
    record = {r.name: r for r in discover()}["woox"]
    assert record.plugin is not None, record.error
    return record.plugin


async def test_history_and_stream_through_the_hosts_policed_session() -> None:
    plugin = woox()
    async with WooXSimulator(speed=120.0) as sim:
        plugin.call("configure", settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        session = create_session(plugin.policy.extended(LOOPBACK))
        try:
            markets = await plugin.call("list_markets", session=session)
            assert "SPOT_BTC_USDT" in {m.symbol for m in markets}

            end = sim.clock.now_ms() // MINUTE_MS * MINUTE_MS - 10 * MINUTE_MS
            start = end - 2500 * MINUTE_MS
            request = HistoryRequest("SPOT_BTC_USDT", 60, start=start, end=end)
            got = [
                c
                async for batch in plugin.call("fetch_history", session=session, request=request)
                for c in batch
            ]
            truth = sim.candles("SPOT_BTC_USDT", "1m", start, end)
            assert [c.open_time for c in got] == [t.start_ms for t in truth]
            assert [str(c.quote_volume) for c in got] == [t.amount for t in truth]

            stream = await plugin.call(
                "start_stream", session=session, config=StreamConfig("PERP_ETH_USDT", 60)
            )
            finals: list[CandleEvent] = []
            statuses: list[StatusEvent] = []
            async with asyncio.timeout(20):
                async for event in stream:
                    if isinstance(event, StatusEvent):
                        statuses.append(event)
                    elif event.final:
                        finals.append(event)
                        if len(finals) == 3:
                            await plugin.call("stop_stream", stream_id=stream.id)
            assert statuses[0].kind is StatusKind.CONNECTED
            for event in finals:
                (expected,) = sim.candles(
                    "PERP_ETH_USDT", "1m", event.candle.open_time, event.candle.open_time + 1
                )
                assert str(event.candle.close) == expected.close
                assert str(event.candle.volume) == expected.volume
            await plugin.call("stop_stream", stream_id=stream.id)  # idempotent
        finally:
            await session.close()
            plugin.call("configure", settings={})


async def test_without_admitting_loopback_the_plugin_cannot_reach_the_simulator() -> None:
    plugin = woox()
    async with WooXSimulator() as sim:
        plugin.call("configure", settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        session = create_session(plugin.policy)
        try:
            with pytest.raises(NetworkNotAllowed) as info:
                await plugin.call("list_markets", session=session)
            assert info.value.plugin == "woox"
            assert sim.rest_url in info.value.url
            assert not sim.requests
        finally:
            await session.close()
            plugin.call("configure", settings={})


async def test_a_stream_the_policy_refuses_fails_instead_of_reconnecting_forever() -> None:
    plugin = woox()
    async with WooXSimulator() as sim:
        plugin.call("configure", settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        session = create_session(plugin.policy.extended(["http://127.0.0.1:*/*"]))  # no ws://
        try:
            stream = await plugin.call(
                "start_stream", session=session, config=StreamConfig("SPOT_BTC_USDT", 60)
            )
            with pytest.raises(NetworkNotAllowed) as info:
                await asyncio.wait_for(drain(stream), timeout=10)
            assert info.value.url.startswith("ws://127.0.0.1:")
            assert sim.connections_opened == 0
            await plugin.call("stop_stream", stream_id=stream.id)
        finally:
            await session.close()
            plugin.call("configure", settings={})
