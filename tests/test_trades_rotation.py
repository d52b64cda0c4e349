"""Rotation on the trades channel, against the simulator: make-before-break hands the tape from
the old connection to the new one at an exact seam (the new one's pushes held until the old one
has passed its start), so no trade is lost or repeated and no REST read is needed."""

from __future__ import annotations

from _stream_sim import collect, running, statuses
from _trades_live import check_tape, trades

from host_stub.spec import Channel, StatusKind, StreamConfig


async def test_rotations_hand_the_tape_over_with_no_hole_or_duplicate() -> None:
    async with running(
        {"speed": 600.0, "max_connection_life_s": 1.0},
        max_connection_life_s=0.4,
        rotation_overlap_s=0.3,
    ) as h:
        stream = await h.manager.start(
            h.session, StreamConfig("PERP_BTC_USDT", channel=Channel.TRADES)
        )
        events = await collect(stream, lambda ev: h.manager.stats.rotations >= 3, timeout=15)
        events += await collect(stream, lambda ev: len(trades(ev)) >= 50)
        assert check_tape(h.sim, "PERP_BTC_USDT", events) == []
        assert h.manager.stats.connections_lost == 0
        assert not statuses(events, StatusKind.GAP_FILLED)  # the seam needed no REST
        assert not any(r.path.endswith("marketTrades") for r in h.sim.requests)
