"""Live streams against the simulator over loopback: exact finals, backfill seam, finals-only,
every WebSocket timeframe (3d and 1M included), refusals, sharing, stopping and cancelling."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from _stream_sim import (
    assert_exact,
    candle_key,
    collect,
    finals,
    n_finals,
    running,
    sim_key,
    statuses,
    stream_tasks,
    wait_until,
)

from host_stub.spec import (
    CandleEvent,
    InvalidRequest,
    StatusKind,
    StreamConfig,
    StreamFailed,
)
from woox_datasource import wire
from woox_datasource.simulator import MarketClock
from woox_datasource.stream import StreamManager

MIN = 60_000
BTC = "SPOT_BTC_USDT"


def sent_commands(sim: object, cmd: str) -> list[list[str]]:
    """Topic lists of the ``cmd`` frames the simulator received, in order."""
    out = []
    for record in sim.ws_received:  # type: ignore[attr-defined]
        parsed = record.parsed
        if isinstance(parsed, dict) and parsed.get("cmd") == cmd:
            out.append(list(parsed["params"]))
    return out


async def test_live_finals_are_the_exchanges_candles_exactly() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        events = await collect(stream, n_finals(12))
        assert statuses(events)[0].kind is StatusKind.CONNECTED
        assert any(isinstance(e, CandleEvent) and not e.final for e in events)
        assert_exact(h.sim, finals(events), "1m")
        # a provisional never shows up after the final of its candle
        done: set[int] = set()
        for e in events:
            if isinstance(e, CandleEvent):
                assert e.candle.open_time not in done
                if e.final:
                    done.add(e.candle.open_time)


async def test_backfill_then_live_with_an_exact_seam() -> None:
    async with running() as h:
        now = h.sim.clock.now_ms()
        start = now - 45 * MIN - 17_000  # not on a boundary: the first final opens after it
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60, backfill_from=start))
        events = await collect(
            stream, lambda ev: bool(statuses(ev, StatusKind.BACKFILLED)) and len(finals(ev)) > 60
        )
        got = finals(events)
        assert got[0].open_time == (start // MIN + 1) * MIN
        assert_exact(h.sim, got, "1m")
        [done] = statuses(events, StatusKind.BACKFILLED)
        seam = events.index(done)
        history, live = finals(events[:seam]), finals(events[seam:])
        assert done.count == len(history) >= 44
        assert done.end == history[-1].close_time == live[0].open_time
        assert not any(isinstance(e, CandleEvent) and not e.final for e in events[:seam])


async def test_finals_only_drops_provisional_updates() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60, finals_only=True))
        events = await collect(stream, n_finals(5))
        assert all(e.final for e in events if isinstance(e, CandleEvent))
        assert_exact(h.sim, finals(events), "1m")


@pytest.mark.parametrize(("interval", "ws_type"), [(259_200, "3d"), (2_592_000, "1M")])
async def test_3d_and_month_candles_stream_and_close_exactly(interval: int, ws_type: str) -> None:
    clock = MarketClock(time.time_ns() // 1_000_000, speed=0.0)  # frozen: we move it by hand
    async with running({"clock": clock, "speed": 1.0}) as h:
        stream = await h.manager.start(h.session, StreamConfig("PERP_ETH_USDT", interval))
        events = await collect(stream, lambda ev: any(isinstance(e, CandleEvent) for e in ev))
        first = next(e for e in events if isinstance(e, CandleEvent))
        assert not first.final
        assert first.candle.open_time <= clock.now_ms() < first.candle.close_time
        clock.advance(first.candle.close_time - clock.now_ms() + 3_600_000)
        events = await collect(stream, n_finals(1))
        [final] = finals(events)
        truth = h.sim.candle_at("PERP_ETH_USDT", ws_type, first.candle.open_time)
        assert candle_key(final) == sim_key(truth)
        assert final.interval == interval


async def test_timeframes_without_live_data_and_bad_symbols_are_refused() -> None:
    async with running() as h:
        with pytest.raises(InvalidRequest, match=r"live intervals: .*259200 \(3d\).*1M"):
            await h.manager.start(h.session, StreamConfig(BTC, 31_536_000))
        with pytest.raises(InvalidRequest, match="SPOT_BTC_USDT or PERP_BTC_USDT"):
            await h.manager.start(h.session, StreamConfig("BTC/USDT", 60))
        assert h.manager.streams == {}
        assert h.sim.connections_opened == 0


async def test_same_topic_is_shared_and_unsubscribed_only_by_the_last_stream() -> None:
    async with running() as h:
        topic = wire.kline_topic(BTC, "1m")
        other = wire.kline_topic("PERP_ETH_USDT", "1m")
        a = await h.manager.start(h.session, StreamConfig(BTC, 60))
        b = await h.manager.start(h.session, StreamConfig(BTC, 60, finals_only=True))
        c = await h.manager.start(h.session, StreamConfig("PERP_ETH_USDT", 60))
        got_a, got_b = await asyncio.gather(collect(a, n_finals(3)), collect(b, n_finals(3)))
        await collect(c, n_finals(1))
        subscribed = [t for params in sent_commands(h.sim, "SUBSCRIBE") for t in params]
        assert sorted(subscribed) == sorted([topic, other])
        assert h.sim.connections_opened == 1
        assert set(map(candle_key, finals(got_b))) <= set(map(candle_key, finals(got_a))) | set(
            map(candle_key, finals(await collect(a, n_finals(3))))
        )
        await h.manager.stop(a.id)
        await collect(b, n_finals(2))  # b goes on
        assert sent_commands(h.sim, "UN_SUBSCRIBE") == []
        await h.manager.stop(b.id)  # returns at once; the slot unsubscribes in the background
        await wait_until(lambda: h.sim.subscriptions() == {1: [other]})
        assert sent_commands(h.sim, "UN_SUBSCRIBE") == [[topic]]
        await collect(c, n_finals(1))
        await h.manager.stop(c.id)  # the connection's last topic: the socket closes instead
        assert sent_commands(h.sim, "UN_SUBSCRIBE") == [[topic]]
        assert h.manager.connections == 0
        assert stream_tasks() == []
        await wait_until(lambda: h.sim.active_connections == 0)


async def test_stop_ends_iteration_promptly_and_is_idempotent() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        await collect(stream, n_finals(1))
        seen: list[object] = []

        async def consume() -> None:
            async for event in stream:
                seen.append(event)

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        started = time.monotonic()
        await h.manager.stop(stream.id)
        await asyncio.wait_for(consumer, 1.0)
        assert time.monotonic() - started < 1.0
        await h.manager.stop(stream.id)
        await h.manager.stop("no-such-stream")
        await stream.aclose()
        assert [e async for e in stream] == []
        assert stream_tasks() == []


async def test_cancelled_consumer_leaves_the_stream_usable_and_nothing_behind() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))

        async def consume() -> None:
            async for _ in stream:
                pass

        consumer = asyncio.create_task(consume())
        await collect_nothing_for_a_tick()
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await collect(stream, n_finals(2))  # nothing was lost by the cancelled get
        async with stream:
            pass  # leaving the context stops it
        assert h.manager.streams == {}
        assert stream_tasks() == []
    assert stream_tasks() == []


async def collect_nothing_for_a_tick() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_closed_session_fails_streams_clearly() -> None:
    async with running() as h:
        async with aiohttp.ClientSession() as own:
            stream = await h.manager.start(own, StreamConfig(BTC, 60))
            await collect(stream, n_finals(1))
        with pytest.raises(StreamFailed, match="session"):
            await collect(stream, lambda ev: False, timeout=5)
        with pytest.raises(StreamFailed, match="session is closed"):
            await h.manager.start(own, StreamConfig(BTC, 60))
        assert h.manager.streams == {}


async def test_closed_manager_refuses_new_streams() -> None:
    async with running() as h:
        await h.manager.aclose()
        with pytest.raises(StreamFailed, match="closed"):
            await h.manager.start(h.session, StreamConfig(BTC, 60))
        assert isinstance(h.manager, StreamManager)


async def test_backfill_joins_a_topic_that_is_already_live() -> None:
    async with running() as h:
        live = await h.manager.start(h.session, StreamConfig(BTC, 60))
        await collect(live, n_finals(3))
        start = h.sim.clock.now_ms() - 20 * MIN
        late = await h.manager.start(h.session, StreamConfig(BTC, 60, backfill_from=start))
        got, _ = await asyncio.gather(
            collect(
                late, lambda ev: bool(statuses(ev, StatusKind.BACKFILLED)) and len(finals(ev)) > 30
            ),
            collect(live, n_finals(5)),
        )
        assert_exact(h.sim, finals(got), "1m")
        assert finals(got)[0].open_time == (start // MIN + 1) * MIN
        assert [t for params in sent_commands(h.sim, "SUBSCRIBE") for t in params] == [
            wire.kline_topic(BTC, "1m")
        ]
