"""The WebSocket protocol as WOO X's limits shape it: checked acks (unknown symbols, refusals),
at most 10 topics per SUBSCRIBE, at most 100 topics per connection, PING/PONG both ways."""

from __future__ import annotations

import asyncio

import pytest
from _stream_sim import collect, finals, n_finals, running, statuses, wait_until

from host_stub.spec import StatusKind, StreamConfig, StreamFailed, UnknownSymbol
from woox_datasource import wire
from woox_datasource.simulator import WS_TYPES, WooXSimulator
from woox_datasource.stream import LiveStream
from woox_datasource.timeframes import BY_WS_TYPE


def subscribe_frames(sim: WooXSimulator) -> list[tuple[int, list[str]]]:
    """(connection id, topics) of every SUBSCRIBE the simulator received."""
    return [
        (r.connection_id, list(r.parsed["params"]))
        for r in sim.ws_received
        if isinstance(r.parsed, dict) and r.parsed.get("cmd") == "SUBSCRIBE"
    ]


def client_pings(sim: WooXSimulator) -> int:
    return sum(
        1 for r in sim.ws_received if isinstance(r.parsed, dict) and r.parsed.get("cmd") == "PING"
    )


def all_topics(sim: WooXSimulator) -> list[tuple[str, int]]:
    """(symbol, interval) of every topic the simulator serves, symbols x WebSocket types."""
    return [(s, BY_WS_TYPE[t].interval) for s in sorted(sim.symbols) for t in sorted(WS_TYPES)]


async def connected(stream: LiveStream) -> None:
    await collect(stream, lambda ev: bool(statuses(ev, StatusKind.CONNECTED)))


async def test_unknown_symbol_fails_only_its_own_stream() -> None:
    async with running() as h:
        nope = await h.manager.start(h.session, StreamConfig("SPOT_NOPE_USDT", 60))
        btc = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        with pytest.raises(UnknownSymbol, match="SPOT_NOPE_USDT") as info:
            await collect(nope, lambda ev: False)
        assert info.value.symbol == "SPOT_NOPE_USDT"
        assert [e async for e in nope] == []  # raised once, then ended
        assert nope.id not in h.manager.streams
        await collect(btc, n_finals(2))
        assert h.sim.connections_opened == 1


async def test_refused_subscribe_fails_its_streams_with_the_exchanges_text() -> None:
    # A server taking fewer topics per request than we send answers "Command type invalid!".
    async with running({"max_topics_per_request": 2}) as h:
        symbols = ["SPOT_BTC_USDT", "SPOT_ETH_USDT", "PERP_BTC_USDT"]
        streams = await asyncio.gather(
            *(h.manager.start(h.session, StreamConfig(s, 60)) for s in symbols)
        )
        for stream in streams:
            with pytest.raises(StreamFailed, match="Command type invalid!"):
                await collect(stream, lambda ev: False)
        assert h.manager.streams == {}


async def test_subscriptions_are_batched_ten_topics_per_request() -> None:
    async with running() as h:
        wanted = all_topics(h.sim)[:37]
        streams = await asyncio.gather(
            *(h.manager.start(h.session, StreamConfig(s, i)) for s, i in wanted)
        )
        await asyncio.gather(*(connected(s) for s in streams))
        frames = subscribe_frames(h.sim)
        assert all(1 <= len(topics) <= wire.MAX_TOPICS_PER_SUBSCRIBE for _, topics in frames)
        assert len(frames) == 4
        sent = sorted(t for _, topics in frames for t in topics)
        assert sent == sorted(wire.kline_topic(s, BY_WS_TYPE_OF[i]) for s, i in wanted)


BY_WS_TYPE_OF = {tf.interval: ws_type for ws_type, tf in BY_WS_TYPE.items()}


@pytest.mark.parametrize("live_first", [False, True])
async def test_streams_started_one_per_tick_go_out_ten_per_subscribe(live_first: bool) -> None:
    """A host that yields to the loop between starts, on a connection still opening or on one
    already live (acks coming and going): ten topics per SUBSCRIBE all the same, but for the
    last batch and, on a live connection, the very first stream's own."""
    async with running() as h:
        wanted = all_topics(h.sim)[:91]
        if live_first:
            first = await h.manager.start(h.session, StreamConfig(*wanted.pop(0)))
            await connected(first)
        streams = []
        for symbol, interval in wanted:
            streams.append(await h.manager.start(h.session, StreamConfig(symbol, interval)))
            await asyncio.sleep(0)
        await asyncio.gather(*(connected(s) for s in streams))
        frames = subscribe_frames(h.sim)
        assert sorted(t for _, topics in frames for t in topics) == sorted(
            wire.kline_topic(s, BY_WS_TYPE_OF[i]) for s, i in all_topics(h.sim)[:91]
        )
        sizes = [len(topics) for _, topics in frames]
        assert sizes.count(10) == 9, sizes
        assert len(sizes) == 10, sizes  # 91 topics: 9 x 10 and one alone (first or last)


async def test_more_than_100_topics_open_a_second_connection() -> None:
    async with running({"speed": 60.0}) as h:
        wanted = all_topics(h.sim)[:130]
        assert len(wanted) == 130
        streams = await asyncio.gather(
            *(h.manager.start(h.session, StreamConfig(s, i)) for s, i in wanted)
        )
        await asyncio.gather(*(connected(s) for s in streams))
        subs = h.sim.subscriptions()
        assert sorted(len(topics) for topics in subs.values()) == [30, 100]
        assert h.sim.connections_opened == 2
        assert h.manager.connections == 2
        assert len(h.manager.streams) == 130  # none failed as "unknown" by a full connection


async def test_server_pings_are_answered_with_pongs() -> None:
    async with running({"server_ping_interval_s": 0.05}) as h:
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        await connected(stream)
        await wait_until(lambda: h.sim.pongs_received >= 3 and h.manager.stats.server_pings >= 3)
        assert h.sim.connections_opened == 1


async def test_client_pings_keep_a_quiet_connection_open_past_the_idle_timeout() -> None:
    # Speed 0: the market is frozen, so no push keeps the socket busy; only our PINGs do.
    async with running({"speed": 0.0, "idle_timeout_s": 0.3}, ping_interval_s=0.1) as h:
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        await connected(stream)
        await wait_until(lambda: client_pings(h.sim) >= 12)  # >= 1.2 s: four idle timeouts
        assert h.sim.connections_opened == 1
        assert h.sim.active_connections == 1
        assert h.manager.stats.connections_lost == 0


async def test_without_timely_pings_the_exchange_drops_the_socket_and_we_report_it() -> None:
    """The control for the test above: pinging slower than the idle timeout is not enough."""
    async with running(
        {"speed": 0.0, "idle_timeout_s": 0.3}, ping_interval_s=1.0, silence_timeout_s=3.0
    ) as h:
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        events = await collect(stream, lambda ev: bool(statuses(ev, StatusKind.RECONNECTING)))
        [lost] = statuses(events, StatusKind.RECONNECTING)
        assert "1006" in lost.reason
        events = await collect(stream, lambda ev: bool(statuses(ev, StatusKind.CONNECTED)))
        assert h.sim.connections_opened == 2
        assert finals(events) == []


async def test_silent_connection_is_replaced() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        await collect(stream, n_finals(1))
        h.sim.go_silent(1.5)  # longer than silence_timeout_s (1.0)
        events = await collect(stream, lambda ev: bool(statuses(ev, StatusKind.RECONNECTING)))
        assert "silent" in statuses(events, StatusKind.RECONNECTING)[0].reason
        assert h.manager.stats.silences == 1
        await collect(stream, n_finals(3), timeout=15)
