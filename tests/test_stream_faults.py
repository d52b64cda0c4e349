"""Healing: reconnects and silent spells filled from REST exactly, REST failures during fills,
unfillable gaps reported, malformed and duplicate pushes survived, make-before-break rotation,
a slow consumer kept bounded, the connection budget honoured, teardown in every state."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal

import pytest
from _stream_sim import (
    assert_exact,
    collect,
    finals,
    n_finals,
    running,
    statuses,
    stream_tasks,
    wait_until,
)

from host_stub.spec import OHLCV, CandleEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource.simulator import MarketClock, WooXSimulator

BTC = "SPOT_BTC_USDT"
MIN = 60_000


def tiles(events: list[StreamEvent]) -> None:
    """Finals and unfillable ranges follow each other with no hole and no overlap."""
    spans = sorted(
        [(c.open_time, c.close_time) for c in finals(events)]
        + [(s.start, s.end) for s in statuses(events, StatusKind.GAP_UNFILLABLE)]
    )
    for (_, a_end), (b_start, _) in itertools.pairwise(spans):
        assert a_end == b_start, (a_end, b_start)


async def test_reconnect_gap_is_filled_from_history_before_live_resumes() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        events = await collect(stream, n_finals(3))
        h.sim.refuse_connections(0.4)  # ~4 market minutes at 600x
        h.sim.faults.fail_next(2, 500)
        h.sim.faults.fail_next(2, 429)
        await h.sim.drop_connections()
        events += await collect(stream, lambda ev: bool(statuses(ev, StatusKind.GAP_FILLED)))
        events += await collect(stream, n_finals(3))
        assert_exact(h.sim, finals(events), "1m")
        kinds = [s.kind for s in statuses(events)]
        lost = kinds.index(StatusKind.RECONNECTING)
        assert StatusKind.CONNECTED in kinds[lost:]
        [gap] = statuses(events, StatusKind.GAP_FILLED)
        assert gap.count is not None and gap.count >= 3
        assert gap.end is not None and gap.start is not None
        assert gap.end - gap.start == gap.count * MIN
        after = events[events.index(gap) :]
        assert any(isinstance(e, CandleEvent) and e.candle.open_time == gap.end for e in after)
        assert not statuses(events, StatusKind.GAP_UNFILLABLE)
        assert h.manager.stats.connect_failures >= 1


async def test_lost_pushes_while_connected_are_a_gap_too() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        events = await collect(stream, n_finals(2))
        h.sim.go_silent(0.5)  # pushes lost, shorter than the silence timeout: socket stays
        events += await collect(stream, lambda ev: bool(statuses(ev, StatusKind.GAP_FILLED)))
        events += await collect(stream, n_finals(2))
        assert_exact(h.sim, finals(events), "1m")
        assert not statuses(events, StatusKind.RECONNECTING)
        assert h.sim.connections_opened == 1


async def test_history_that_keeps_failing_makes_the_gap_unfillable_not_silent() -> None:
    async with running(fill_deadline_s=0.3) as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        events = await collect(stream, n_finals(2))
        h.sim.faults.fail_next(10_000, 500)
        h.sim.refuse_connections(0.3)
        await h.sim.drop_connections()
        events += await collect(stream, lambda ev: bool(statuses(ev, StatusKind.GAP_UNFILLABLE)))
        h.sim.faults.clear()
        events += await collect(stream, n_finals(4))
        [hole] = statuses(events, StatusKind.GAP_UNFILLABLE)
        assert "500" in hole.reason or "internal" in hole.reason
        assert hole.start is not None and hole.end is not None and hole.start < hole.end
        tiles(events)
        got = finals(events)
        before = [c for c in got if c.open_time < hole.start]
        after = [c for c in got if c.open_time >= hole.end]
        assert_exact(h.sim, before, "1m")
        assert_exact(h.sim, after, "1m")
        assert h.manager.stats.gaps_unfillable == 1


async def test_malformed_and_duplicate_pushes_are_counted_and_survived() -> None:
    async with running() as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        events = await collect(stream, n_finals(1))
        h.sim.inject_malformed(10)
        h.sim.duplicate_pushes(20)
        events += await collect(stream, n_finals(6))
        h.sim.inject_malformed(6, replace=True)  # these pushes are lost: finals among them too
        events += await collect(stream, n_finals(6))
        assert_exact(h.sim, finals(events), "1m")
        stats = h.manager.stats
        # one kind of "malformed" frame is a well-formed push for a topic nobody subscribed
        assert stats.malformed + stats.unknown_topic == 16
        assert stats.malformed >= 12
        assert stats.duplicates >= 1
        assert h.sim.connections_opened == 1


async def test_rotation_is_make_before_break_and_loses_nothing() -> None:
    # The simulated exchange cuts connections at 1 s; we rotate at 0.4 s, before it can.
    async with running(
        {"max_connection_life_s": 1.0}, max_connection_life_s=0.4, rotation_overlap_s=0.3
    ) as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        eth = await h.manager.start(h.session, StreamConfig("PERP_ETH_USDT", 300))
        events = await collect(stream, lambda ev: h.manager.stats.rotations >= 4, timeout=15)
        events += await collect(stream, n_finals(2))
        assert_exact(h.sim, finals(events), "1m")
        stats = h.manager.stats
        assert stats.connections_lost == 0  # never cut by the exchange, never lost
        assert stats.fills == 0  # no candle missed live, so nothing to read from REST
        assert stats.gap_candles == 0
        reasons = [s.reason for s in statuses(events, StatusKind.RECONNECTING)]
        assert reasons and all("rotating" in r for r in reasons)
        assert h.sim.connections_opened >= 5
        await collect(eth, lambda ev: bool(statuses(ev, StatusKind.RECONNECTING)))


async def test_slow_consumer_gets_conflated_updates_all_finals_and_bounded_memory() -> None:
    capacity = 8
    async with running({"speed": 1200.0}, queue_capacity=capacity) as h:
        stream = await h.manager.start(h.session, StreamConfig(BTC, 180))
        await collect(stream, n_finals(1))
        peak = 0

        def stalled_long_enough() -> bool:
            nonlocal peak
            peak = max(peak, stream.pending)
            return h.manager.stats.overflows >= 1 and h.manager.stats.conflated >= 3

        await wait_until(stalled_long_enough, timeout=10)  # the consumer reads nothing meanwhile
        assert peak <= capacity + 3  # a couple of provisionals/status beyond the finals
        events = await collect(stream, n_finals(capacity * 3), timeout=20)
        got = finals(events)
        assert_exact(h.sim, got, "3m")
        assert statuses(events, StatusKind.GAP_FILLED)  # the overflow was re-read from REST
        assert not statuses(events, StatusKind.GAP_UNFILLABLE)


async def test_failing_attempts_never_spend_what_a_reconnect_needs() -> None:
    """Budget 3, one connection: two refused attempts, then the last one is kept in reserve
    (a failing probe must not leave nothing for reconnecting once the exchange accepts), and
    the stream says so, with when the budget frees."""
    async with running(max_new_connections=3, connection_window_s=60.0) as h:
        h.sim.refuse_connections(30)
        stream = await h.manager.start(h.session, StreamConfig(BTC, 60))
        await wait_until(lambda: h.sim.connections_refused == 2)

        def paused(ev: list[StreamEvent]) -> bool:
            return any("in reserve" in s.reason for s in statuses(ev, StatusKind.STALE))

        events = await collect(stream, paused)
        assert {s.kind for s in statuses(events)} == {StatusKind.RECONNECTING, StatusKind.STALE}
        [why] = [s.reason for s in statuses(events, StatusKind.STALE) if "in reserve" in s.reason]
        assert "HTTP 503" in why and "frees in" in why and "3 new connections per 60 s" in why
        await asyncio.sleep(1.0)  # > 3x the capped backoff: a third attempt would have happened
        assert h.sim.connections_refused == 2
        assert h.manager.budget.used == 2


def assert_aggregates_days(sim: WooXSimulator, got: list[OHLCV]) -> None:
    """Each derived candle is exactly its days' aggregate, as the exchange's own would be."""
    for c in got:
        days = sim.candles(c.symbol, "1d", c.open_time, c.close_time)
        assert len(days) == (c.close_time - c.open_time) // 86_400_000
        assert c.open == Decimal(days[0].open) and c.close == Decimal(days[-1].close)
        assert c.high == max(Decimal(d.high) for d in days)
        assert c.low == min(Decimal(d.low) for d in days)
        assert c.volume == sum(Decimal(d.volume) for d in days)
        assert c.quote_volume == sum(Decimal(d.amount) for d in days)


@pytest.mark.parametrize(("interval", "ws_type", "derive"), [
    (2_592_000, "1M", False), (259_200, "3d", False), (259_200, "3d", True),
])  # fmt: skip
async def test_gap_in_3d_and_month_candles(interval: int, ws_type: str, derive: bool) -> None:
    """A month gap is filled from REST's ``1mon``. ``3d`` has no REST type: its gap is reported
    unfillable, or (opt-in) derived from ``1d`` candles."""
    clock = MarketClock(time.time_ns() // 1_000_000, speed=0.0)
    async with running({"clock": clock, "speed": 1.0}, derive_3d=derive) as h:
        stream = await h.manager.start(h.session, StreamConfig("PERP_ETH_USDT", interval))
        events = await collect(stream, lambda ev: any(isinstance(e, CandleEvent) for e in ev))
        first = next(e.candle for e in events if isinstance(e, CandleEvent))
        h.sim.refuse_connections(0.2)
        await h.sim.drop_connections()
        clock.advance(first.close_time - clock.now_ms() + 3 * interval * 1000 + 3_600_000)
        fillable = ws_type == "1M" or derive
        gap_kind = StatusKind.GAP_FILLED if fillable else StatusKind.GAP_UNFILLABLE
        events += await collect(stream, lambda ev: bool(statuses(ev, gap_kind)))
        got = finals(events)
        if not fillable:
            assert got == []
            [hole] = statuses(events, StatusKind.GAP_UNFILLABLE)
            assert hole.start == first.open_time
            assert "no 3d history" in hole.reason
            return
        assert len(got) >= 3
        assert got[0].open_time == first.open_time
        if derive:
            # The simulator draws each timeframe's extremes and volume on its own, so its 3d
            # candles are not aggregates of its days; a real exchange's are.
            assert_aggregates_days(h.sim, got)
        else:
            assert_exact(h.sim, got, ws_type)


async def test_closing_in_every_state_leaves_nothing_behind() -> None:
    async with running(fill_deadline_s=30.0) as h:
        live = await h.manager.start(h.session, StreamConfig(BTC, 60))
        await collect(live, n_finals(1))
        backfill = await h.manager.start(
            h.session, StreamConfig("PERP_BTC_USDT", 60, backfill_from=h.sim.clock.now_ms() - 10**9)
        )
        h.sim.faults.fail_next(10_000, 500)  # gap fills and backfill stuck retrying
        h.sim.refuse_connections(30)  # reconnects stuck backing off
        await h.sim.drop_connections()
        await collect(live, lambda ev: len(statuses(ev, StatusKind.RECONNECTING)) >= 2)
        assert stream_tasks()  # slots, catch-up and fill tasks are all busy now
        started = time.monotonic()
        await h.manager.aclose()
        assert time.monotonic() - started < 2.0
        assert stream_tasks() == []
        assert [e async for e in live] == []
        assert [e async for e in backfill] == []
