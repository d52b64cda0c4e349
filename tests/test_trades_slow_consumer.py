"""A consumer too slow for the tape, against the simulator: its queue stays bounded, and the trades
it could not hold are never lost silently: one ``gap_unfillable`` per stall, placed where the
loss happened, with bounds that hold every dropped trade and the exact count of them."""

from __future__ import annotations

from _stream_sim import collect, running, statuses, wait_until
from _trades_live import check_tape, gaps, n_trades, trades

from host_stub.spec import Channel, StatusKind, StreamConfig
from woox_datasource.channels.trades_stream import TradesStream

SYMBOL = "PERP_BTC_USDT"
CAPACITY = 400
"""Some six of the simulator's pushing rounds at this speed: a consumer that keeps reading keeps
up, one that stalls does not."""


async def test_a_stalled_consumer_hears_how_many_trades_it_lost_and_where() -> None:
    async with running({"speed": 600.0}, queue_capacity=CAPACITY) as h:
        stream = await h.manager.start(h.session, StreamConfig(SYMBOL, channel=Channel.TRADES))
        assert isinstance(stream, TradesStream)
        before = await collect(stream, n_trades(20))
        await wait_until(lambda: stream.gate.dropped >= 500, timeout=10)  # the consumer stalls
        assert stream.pending <= CAPACITY + 2  # bounded: a report and a status at most beyond
        after = await collect(
            stream, lambda ev: bool(gaps(ev)) and len(trades(ev)) >= 3 * CAPACITY, timeout=20
        )
        events = before + after
        losses = gaps(events)
        assert check_tape(h.sim, SYMBOL, events) == losses
        assert losses[0].count is not None and losses[0].count >= 500
        for loss, report in zip(losses, statuses(events, StatusKind.GAP_UNFILLABLE), strict=True):
            assert "consumer too slow" in loss.reason
            truth = h.sim.trades(SYMBOL, loss.start, loss.end)
            delivered = [t for t in trades(events) if loss.start <= t.time < loss.end]
            assert loss.count == len(truth) - len(delivered)  # exactly the ones missing
            # placed where the loss happened: after the trades before it, before the rest
            at = events.index(report)
            assert all(t.time <= loss.start for t in trades(events[:at]))
            assert all(t.time >= loss.end - 1 for t in trades(events[at:]))
        assert h.manager.stats.overflows == len(losses)
