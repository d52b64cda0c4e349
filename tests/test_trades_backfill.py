"""``backfill_from`` on the trades channel, against the simulator's tape: the recent past first
(read from REST, a history page at a time), then live, with no hole and no duplicate at the seam;
a stream joining a topic that other streams already hear backfills on its own; and a past
further back than REST keeps is reported ``gap_unfillable`` from ``backfill_from`` to exactly
where the history begins."""

from __future__ import annotations

from _stream_sim import Recorder, collect, running, statuses, wait_until
from _trades_live import check_tape, gaps, trades

from host_stub.spec import Channel, StatusKind, StreamConfig, StreamEvent
from woox_datasource.simulator.restdata import MAX_TRADES_PAGE

SYMBOL = "PERP_BTC_USDT"  # about two trades per market second


def backfilled_then(n: int, events: list[StreamEvent]) -> bool:
    """The backfill is done and ``n`` trades followed it."""
    done = statuses(events, StatusKind.BACKFILLED)
    if not done:
        return False
    return len(trades(events[events.index(done[0]) :])) >= n


async def test_the_recent_past_comes_first_then_live_with_no_hole_or_duplicate() -> None:
    async with running({"speed": 600.0}) as h:
        now = h.sim.clock.now_ms()
        start = now - 300_000  # five market minutes, or more until they hold over two pages
        while len(h.sim.trades(SYMBOL, start, now)) <= 2 * MAX_TRADES_PAGE:
            start -= 300_000  # (a quiet stretch of the seeded tape can hold fewer)
        config = StreamConfig(SYMBOL, channel=Channel.TRADES, backfill_from=start)
        stream = await h.manager.start(h.session, config)
        events = await collect(stream, lambda ev: backfilled_then(200, ev), timeout=30)
        got = trades(events)
        first = h.sim.trades(SYMBOL, start, got[0].time + 1)[0]
        assert (got[0].time, str(got[0].price)) == (first.time, first.price)  # from the start
        assert check_tape(h.sim, SYMBOL, events) == []  # ... to the end, the seam included
        (done,) = statuses(events, StatusKind.BACKFILLED)
        assert done.start == start and done.end is not None
        assert done.count == len([t for t in got if t.time < done.end]) > MAX_TRADES_PAGE
        assert not statuses(events, StatusKind.GAP_UNFILLABLE)


async def test_a_backfill_joining_a_topic_others_hear_has_its_own_past() -> None:
    async with running({"speed": 600.0}) as h:
        plain = await h.manager.start(h.session, StreamConfig(SYMBOL, channel=Channel.TRADES))
        recorder = Recorder(plain)
        try:
            await wait_until(lambda: len(trades(recorder.events)) >= 100)
            start = h.sim.clock.now_ms() - 120_000
            config = StreamConfig(SYMBOL, channel=Channel.TRADES, backfill_from=start)
            late = await h.manager.start(h.session, config)
            events = await collect(late, lambda ev: backfilled_then(200, ev), timeout=30)
            assert trades(events)[0].time >= start
            assert check_tape(h.sim, SYMBOL, events) == []
            n = len(trades(recorder.events))
            await wait_until(lambda: len(trades(recorder.events)) >= n + 100)
        finally:
            await plain.aclose()
            await recorder.task
        assert check_tape(h.sim, SYMBOL, recorder.events) == []  # the plain stream unaffected
        assert not statuses(recorder.events, StatusKind.BACKFILLED)
        commands = [r.parsed.get("cmd") for r in h.sim.ws_received if isinstance(r.parsed, dict)]
        assert commands.count("SUBSCRIBE") == 1  # one topic, one feed


async def test_a_past_older_than_rest_keeps_is_unfillable_up_to_where_history_begins() -> None:
    kept = 400_000  # history serves 400 market seconds back; a newest page reaches ~250
    async with running({"speed": 0.0, "trade_history_ms": kept}) as h:
        clock = h.sim.clock
        now = clock.now_ms()
        start = now - 600_000
        h.sim.faults.latency_s = 0.5
        config = StreamConfig(SYMBOL, channel=Channel.TRADES, backfill_from=start)
        stream = await h.manager.start(h.session, config)
        recorder = Recorder(stream)
        try:
            # The reads are answered after the live stream's start (its ack, plus the
            # millisecond after it that the live side holds whole).
            await wait_until(lambda: any(r.path.endswith("/marketTrades") for r in h.sim.requests))
            clock.advance(2)
            h.sim.faults.latency_s = 0.0
            read_at = clock.now_ms()
            await wait_until(lambda: bool(statuses(recorder.events, StatusKind.BACKFILLED)), 20)
            clock.advance(20_000)
            want = h.sim.trades(SYMBOL, start, clock.now_ms() + 1)[-1]
            await wait_until(lambda: trades(recorder.events)[-1].time == want.time)
        finally:
            await stream.aclose()
            await recorder.task
        events = recorder.events
        (gap,) = gaps(events)
        assert (gap.start, gap.end) == (start, read_at - kept)
        assert check_tape(h.sim, SYMBOL, events) == [gap]
        assert trades(events)[0].time >= read_at - kept  # nothing REST could not give
        (done,) = statuses(events, StatusKind.BACKFILLED)
        assert done.start == start
