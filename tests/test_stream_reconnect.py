"""Reconnect discipline: the loss of a healthy connection is retried at once however often it
happens; failures (refused, timed out, no ack, death before healthy) back off, growing.

The backoff options here are the defaults (0.5 s doubling to 30 s) unless a test needs a shorter
cap to finish in time: a rule that made a productive connection count as a failure would show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from _stream_sim import (
    AttemptLog,
    Recorder,
    assert_exact,
    collect,
    finals,
    running,
    spacing,
    statuses,
    wait_until,
)

from host_stub.spec import StatusKind, StreamConfig
from woox_datasource.stream import LiveStream

TOPICS = [(s, i) for s in ("SPOT_BTC_USDT", "PERP_ETH_USDT", "SPOT_WOO_USDT") for i in (60, 300)]
LABEL = {60: "1m", 300: "5m"}


@asynccontextmanager
async def recorded(
    manager_streams: Callable[[], list[LiveStream]],
) -> AsyncIterator[list[Recorder]]:
    recorders = [Recorder(s) for s in manager_streams()]
    try:
        yield recorders
    finally:
        for r in recorders:
            await r.stream.aclose()
        await asyncio.gather(*(r.task for r in recorders))


def nominal(failures: int, initial: float, cap: float) -> float:
    """The backoff's upper bound after ``failures`` consecutive failures (the documented rule)."""
    return 0.0 if failures <= 0 else min(cap, initial * 2.0 ** (failures - 1))


@pytest.mark.slow
async def test_a_drop_every_3_s_for_30_s_heals_within_1_5_s_every_time() -> None:
    async with running({"speed": 600.0}, backoff_initial_s=0.5, backoff_max_s=30.0) as h:
        streams = [await h.manager.start(h.session, StreamConfig(s, i)) for s, i in TOPICS]
        async with recorded(lambda: streams) as recorders:
            for r in recorders:
                await wait_until(lambda r=r: bool(finals(r.events)))  # type: ignore[misc]
            attempts = AttemptLog(h.sim)
            drops: list[float] = []
            for _ in range(10):
                await asyncio.sleep(3.0 - (time.monotonic() - drops[-1]) if drops else 3.0)
                drops.append(time.monotonic())
                await h.sim.drop_connections()
                h.sim.clock.advance(3 * 60_000)  # the market goes on meanwhile: a gap to fill
            await asyncio.sleep(1.6)
            await attempts.aclose()
            for r in recorders:
                for moment in drops:
                    back = r.live_again_after(moment)
                    assert back is not None, f"{r.stream.id} not live again after a drop"
                    assert back - moment < 1.5, f"{r.stream.id}: {back - moment:.2f} s"
        for (symbol, interval), r in zip(TOPICS, recorders, strict=True):
            got = finals(r.events)
            assert_exact(h.sim, got, LABEL[interval])
            assert not statuses(r.events, StatusKind.GAP_UNFILLABLE), symbol
            if interval == 60:  # every drop skipped three 1m candles: each was filled
                assert len(statuses(r.events, StatusKind.GAP_FILLED)) >= len(drops)
        assert h.manager.stats.connections_lost == len(drops)
        assert h.manager.stats.connect_failures == 0
        assert attempts.most_in_any(h.manager.options.connection_window_s) <= 100


async def test_ten_seconds_of_refusals_back_off_growing_and_heal_within_one_step() -> None:
    initial, cap = 0.1, 2.0
    async with running({"speed": 600.0}, backoff_initial_s=initial, backoff_max_s=cap) as h:
        streams = [await h.manager.start(h.session, StreamConfig(s, i)) for s, i in TOPICS[:2]]
        async with recorded(lambda: streams) as recorders:
            for r in recorders:
                await wait_until(lambda r=r: bool(finals(r.events)))  # type: ignore[misc]
            attempts = AttemptLog(h.sim)
            lost = time.monotonic()
            h.sim.refuse_connections(10.0)
            await h.sim.drop_connections()
            accepting = lost + 10.0
            for r in recorders:
                await wait_until(lambda r=r: r.live_again_after(lost) is not None,  # type: ignore[misc]
                                 timeout=20)  # fmt: skip
            await attempts.aclose()
            refused = attempts.refused
            assert refused[0][0] - lost < 0.5  # the healthy connection's loss: retried at once
            assert len(refused) >= 6
            for failures, (least, most) in enumerate(spacing(refused), start=1):
                bound = nominal(failures, initial, cap)
                assert most >= 0.5 * bound, (failures, most, refused)  # never sooner
                assert least <= bound + 0.5, (failures, least, refused)  # not stuck
            [(reopened, _)] = [span for span in attempts.opened if span[1] > lost]
            step = nominal(len(refused), initial, cap)
            assert reopened - accepting <= step + 0.1  # the next attempt, within one step
            for r in recorders:
                back = r.live_again_after(lost)
                assert back is not None and back - accepting <= step + 1.5
            assert attempts.most_in_any(h.manager.options.connection_window_s) <= 100
        for (_, interval), r in zip(TOPICS, recorders, strict=False):
            assert_exact(h.sim, finals(r.events), LABEL[interval])
            assert statuses(r.events, StatusKind.GAP_FILLED)


async def test_connections_that_never_become_healthy_back_off_too() -> None:
    """Handshakes succeed but no ack ever comes (a silent exchange): each such connection is
    a failure, so attempts are spaced by growing backoff, not retried at once.

    The exchange stays silent until it has seen 6 handshakes (not for a fixed time, which a
    loaded machine could spend on fewer attempts), then answers again."""
    initial, cap, ack = 0.1, 2.0, 0.2
    async with running(
        backoff_initial_s=initial, backoff_max_s=cap, ack_timeout_s=ack, silence_timeout_s=30.0
    ) as h:
        attempts = AttemptLog(h.sim)
        h.sim.go_silent(120.0)
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        await wait_until(lambda: h.sim.connections_opened >= 6, timeout=60)  # about 2 s
        h.sim.go_silent(0.0)
        events = await collect(stream, lambda ev: bool(statuses(ev, StatusKind.CONNECTED)),
                               timeout=30)  # fmt: skip
        await attempts.aclose()
        opened = attempts.opened
        assert len(opened) >= 6
        for failures, (_, most) in enumerate(spacing(opened), start=1):
            assert most >= ack + 0.5 * nominal(failures, initial, cap), opened
        assert len(statuses(events, StatusKind.RECONNECTING)) == len(opened) - 1
        await stream.aclose()
