"""The trades channel across faults, against the simulator's tape: drops, silences, refused
reconnects and bursts of REST 429/500 lose no trade and repeat none; the outage is read back from
REST (``marketTrades``, then ``marketTradesHistory`` where a page is not enough) and reported
``gap_filled``. Only where REST really cannot cover (a history that does not reach back far
enough, or none at all past the newest page) is a window reported ``gap_unfillable``, with the
exact bounds the simulator's own limits imply."""

from __future__ import annotations

import time

import pytest
from _stream_sim import Harness, Recorder, running, statuses, wait_until
from _trades_live import Window, check_tape, gaps, trades

from host_stub.spec import Channel, StatusKind, StreamConfig, StreamEvent, TradeEvent
from woox_datasource.simulator.restdata import MAX_TRADES_PAGE

SYMBOL = "PERP_BTC_USDT"  # about two trades per market second
OUTAGE_MS = 600_000
"""Ten market minutes: some 1,250 trades, more than a ``marketTrades`` page holds."""


def is_trade(event: StreamEvent) -> bool:
    return isinstance(event, TradeEvent)


def history_reads(h: Harness) -> list[int]:
    return [r.status for r in h.sim.requests if r.path.endswith("/marketTradesHistory")]


async def test_drops_silences_refusals_and_rest_bursts_lose_and_repeat_no_trade() -> None:
    # Ten market minutes per real second: a two-second silence misses more than a page.
    async with running({"speed": 600.0}) as h:
        stream = await h.manager.start(h.session, StreamConfig(SYMBOL, channel=Channel.TRADES))
        recorder = Recorder(stream)
        try:
            await wait_until(lambda: len(trades(recorder.events)) >= 50, timeout=10)
            for fault in ("drop", "drop, REST 429 and 500", "refused", "silent"):
                start = time.monotonic()
                if fault.startswith("drop"):
                    if "REST" in fault:
                        h.sim.faults.fail_next(3, 429)
                        h.sim.faults.fail_next(2, 500)
                    await h.sim.drop_connections()
                elif fault == "refused":
                    h.sim.refuse_connections(1.0)
                    await h.sim.drop_connections()
                else:
                    h.sim.go_silent(2.0)
                await wait_until(
                    lambda: recorder.live_again_after(start, is_trade) is not None,  # noqa: B023
                    timeout=20,
                )
            n = len(trades(recorder.events))
            await wait_until(lambda: len(trades(recorder.events)) >= n + 50, timeout=10)
        finally:
            await stream.aclose()
            await recorder.task
        events = recorder.events
        assert check_tape(h.sim, SYMBOL, events) == []
        assert len(statuses(events, StatusKind.RECONNECTING)) >= 4
        filled = statuses(events, StatusKind.GAP_FILLED)
        assert len(filled) >= 4 and all(f.count for f in filled), filled
        assert [r.fault for r in h.sim.requests if r.fault] == ["rate_limit"] * 3 + ["internal"] * 2
        assert 200 in history_reads(h)  # the silence outlasted a page: history was read too


async def outage(h: Harness) -> tuple[list[StreamEvent], int, int]:
    """On a market clock that moves only when told: trades flow, the connection drops and the
    exchange refuses reconnects while ten market minutes pass, then the stream recovers and trades
    flow again. Returns the events, the last trade delivered before the drop, and the market time
    of the new socket's ack (REST is read a millisecond later)."""
    clock = h.sim.clock
    t0 = clock.now_ms()
    stream = await h.manager.start(h.session, StreamConfig(SYMBOL, channel=Channel.TRADES))
    recorder = Recorder(stream)

    def delivered_through(now: int) -> bool:
        got = trades(recorder.events)
        want = h.sim.trades(SYMBOL, t0 + 1, now + 1)
        return bool(got) and bool(want) and got[-1].time == want[-1].time

    try:
        await wait_until(lambda: bool(statuses(recorder.events, StatusKind.CONNECTED)))
        clock.advance(20_000)
        await wait_until(lambda: delivered_through(clock.now_ms()))
        before = trades(recorder.events)[-1].time
        h.sim.faults.latency_s = 0.5
        h.sim.refuse_connections(0.3)
        await h.sim.drop_connections()
        clock.advance(OUTAGE_MS)  # while nobody is connected
        # The first read after the reconnect is answered a millisecond after the new socket's
        # ack (a clock that stood still would leave that millisecond to neither source).
        await wait_until(lambda: any(r.path.endswith("/marketTrades") for r in h.sim.requests))
        acked = clock.now_ms()
        clock.advance(1)
        h.sim.faults.latency_s = 0.0
        settled = (StatusKind.GAP_FILLED, StatusKind.GAP_UNFILLABLE)
        await wait_until(
            lambda: any(e.kind in settled for e in statuses(recorder.events)), timeout=20
        )
        clock.advance(20_000)
        await wait_until(lambda: delivered_through(clock.now_ms()), timeout=10)
    finally:
        await stream.aclose()
        await recorder.task
    return recorder.events, before, acked


async def test_an_outage_rest_can_read_back_is_filled_whole() -> None:
    async with running({"speed": 0.0}) as h:
        events, before, acked = await outage(h)
        assert check_tape(h.sim, SYMBOL, events) == []
        (filled,) = statuses(events, StatusKind.GAP_FILLED)
        assert (filled.start, filled.end) == (before, acked + 1)  # up to the new socket's start
        missed = h.sim.trades(SYMBOL, before + 1, acked + 1)
        assert filled.count == len(missed) > MAX_TRADES_PAGE
        assert set(history_reads(h)) == {200}


@pytest.mark.parametrize("kept_ms", [400_000, 0], ids=["history-400-s", "no-history"])
async def test_only_what_rest_cannot_reach_is_unfillable_with_exact_bounds(kept_ms: int) -> None:
    async with running({"speed": 0.0, "trade_history_ms": kept_ms}) as h:
        events, before, acked = await outage(h)
        read_at = acked + 1  # the market time of every REST reply
        if kept_ms:  # marketTradesHistory serves starts from read_at - kept_ms on (further back
            end = read_at - kept_ms  # than the newest page, some 250 s, reaches)
        else:  # only the newest page: its oldest millisecond may be cut, so from just after it
            end = h.sim.trades(SYMBOL, before, read_at + 1)[-MAX_TRADES_PAGE].time + 1
        assert [(w.start, w.end, w.count) for w in gaps(events)] == [(before, end, None)]
        assert check_tape(h.sim, SYMBOL, events) == [Window(before, end, None, gaps(events)[0]
                                                            .reason)]  # fmt: skip
        delivered = {t.time for t in trades(events)}
        lost = [t for t in h.sim.trades(SYMBOL, before + 1, end) if t.time not in delivered]
        assert lost, "the window reported holds no trade that was really lost"
        assert not statuses(events, StatusKind.GAP_FILLED)
        assert "marketTradesHistory" in gaps(events)[0].reason
        # some twenty reads looked for where history begins, paced by the shared budget: the
        # exchange's own limit (10 per second) never had to refuse one
        assert len(h.sim.requests) > 15 and not any(r.rate_limited for r in h.sim.requests)
