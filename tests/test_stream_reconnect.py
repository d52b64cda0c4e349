"""Reconnect discipline: the loss of a healthy connection is retried at once however often it
happens; failures (refused, timed out, no ack, death before healthy) back off, growing.

The backoff options here are the defaults (0.5 s doubling to 30 s) unless a test needs a shorter
cap to finish in time: a rule that made a productive connection count as a failure would show."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from _stream_sim import assert_exact, collect, finals, running, statuses, wait_until

from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource.simulator import WooXSimulator
from woox_datasource.stream import LiveStream

TOPICS = [(s, i) for s in ("SPOT_BTC_USDT", "PERP_ETH_USDT", "SPOT_WOO_USDT") for i in (60, 300)]
LABEL = {60: "1m", 300: "5m"}


class Recorder:
    """Every event of a stream with the monotonic time it reached the consumer."""

    def __init__(self, stream: LiveStream) -> None:
        self.stream = stream
        self.log: list[tuple[float, StreamEvent]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.stream:
            self.log.append((time.monotonic(), event))

    @property
    def events(self) -> list[StreamEvent]:
        return [e for _, e in self.log]

    def live_again_after(self, moment: float) -> float | None:
        """When the stream was live again after ``moment``: the first provisional update after
        the first ``connected`` that follows a ``reconnecting``. Provisional updates come only
        from the socket, and only once any gap before them is filled (pushes are held while a
        fill runs), so this is "gap-filled and live"."""
        stage = 0
        for at, event in self.log:
            if at < moment:
                continue
            if isinstance(event, CandleEvent):
                if stage == 2 and not event.final:
                    return at
            elif not isinstance(event, StatusEvent):
                continue
            elif stage == 0 and event.kind is StatusKind.RECONNECTING:
                stage = 1
            elif stage == 1 and event.kind is StatusKind.CONNECTED:
                stage = 2
        return None


class AttemptLog:
    """Times at which the simulator saw handshakes (accepted or refused), by polling its
    counters: an observation independent of the code under test."""

    def __init__(self, sim: WooXSimulator) -> None:
        self.sim = sim
        self.opened: list[float] = []
        self.refused: list[float] = []
        self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        opened, refused = self.sim.connections_opened, self.sim.connections_refused
        while True:
            await asyncio.sleep(0.002)
            now = time.monotonic()
            self.opened += [now] * (self.sim.connections_opened - opened)
            self.refused += [now] * (self.sim.connections_refused - refused)
            opened, refused = self.sim.connections_opened, self.sim.connections_refused

    @property
    def attempts(self) -> list[float]:
        return sorted(self.opened + self.refused)

    def most_in_any(self, window_s: float) -> int:
        times = self.attempts
        return max((sum(1 for t in times[i:] if t - start < window_s)
                    for i, start in enumerate(times)), default=0)  # fmt: skip

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait([self._task])


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
            assert got[-1].close_time > h.sim.clock.now_ms() - 60_000 * 2 * interval // 60
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
            assert refused[0] - lost < 0.5  # the healthy connection's loss: retried at once
            assert len(refused) >= 6
            for failures, (a, b) in enumerate(itertools.pairwise(refused), start=1):
                bound = nominal(failures, initial, cap)
                assert b - a >= 0.5 * bound - 0.01, (failures, b - a, refused)  # never sooner
                assert b - a <= bound + 0.5, (failures, b - a, refused)  # not stuck
            [reopened] = [t for t in attempts.opened if t > lost]
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
    a failure, so attempts are spaced by growing backoff, not retried at once."""
    initial, cap, ack = 0.1, 2.0, 0.2
    async with running(
        backoff_initial_s=initial, backoff_max_s=cap, ack_timeout_s=ack, silence_timeout_s=30.0
    ) as h:
        attempts = AttemptLog(h.sim)
        h.sim.go_silent(4.0)
        stream = await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", 60))
        events = await collect(stream, lambda ev: bool(statuses(ev, StatusKind.CONNECTED)),
                               timeout=15)  # fmt: skip
        await attempts.aclose()
        opened = attempts.opened
        assert len(opened) >= 4
        for failures, (a, b) in enumerate(itertools.pairwise(opened[:-1]), start=1):
            assert b - a >= ack + 0.5 * nominal(failures, initial, cap) - 0.01, opened
        assert len(statuses(events, StatusKind.RECONNECTING)) == len(opened) - 1
        await stream.aclose()
