"""The trades channel against the simulator over loopback, through the stream manager: every trade
of the exchange's tape, exactly once, in exchange-time order, with the exchange's digits; one
topic shared by the streams that ask for it; bad requests refused by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _stream_sim import collect, running, statuses
from _trades_live import check_tape, n_trades, trades

from host_stub.spec import (
    Channel,
    InvalidRequest,
    StatusEvent,
    StatusKind,
    StreamConfig,
    Trade,
    UnknownSymbol,
)


@pytest.mark.parametrize("symbol", ["PERP_BTC_USDT", "SPOT_ETH_USDT"])
async def test_every_trade_of_the_tape_once_in_exchange_time_order(symbol: str) -> None:
    async with running({"speed": 600.0}) as h:
        stream = await h.manager.start(h.session, StreamConfig(symbol, channel=Channel.TRADES))
        events = await collect(stream, n_trades(300), timeout=20)
        assert isinstance(events[0], StatusEvent) and events[0].kind is StatusKind.CONNECTED
        assert all(e.channel is Channel.TRADES and e.interval is None for e in statuses(events))
        assert check_tape(h.sim, symbol, events) == []
        assert {t.external for t in trades(events)} == {True, False}  # both sources kept
        assert h.manager.stats.malformed == 0


async def test_streams_of_one_symbol_share_its_topic_and_see_the_same_tape() -> None:
    async with running({"speed": 600.0}) as h:
        config = StreamConfig("PERP_ETH_USDT", channel=Channel.TRADES)
        first = await h.manager.start(h.session, config)
        await collect(first, n_trades(20))
        second = await h.manager.start(h.session, config)
        later = await collect(second, n_trades(100), timeout=20)
        assert check_tape(h.sim, "PERP_ETH_USDT", later) == []
        late = trades(later)
        mine = await collect(first, lambda ev: late[-1] in trades(ev), timeout=20)
        assert check_tape(h.sim, "PERP_ETH_USDT", mine) == []

        def inside(tape: list[Trade]) -> list[Trade]:
            return [t for t in tape if late[0].time < t.time < late[-1].time]

        assert inside(trades(mine)) == inside(late)  # the same tape, in the same order
        subscribes = [
            topic
            for r in h.sim.ws_received
            if isinstance(r.parsed, dict) and r.parsed.get("cmd") == "SUBSCRIBE"
            for topic in r.parsed["params"]
        ]
        assert subscribes == ["trade@PERP_ETH_USDT"]


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: StreamConfig("PERP_BTC_USDT", 60, channel=Channel.TRADES), "interval"),
        (lambda: StreamConfig("PERP_BTC_USDT", channel=Channel.TRADES, depth=50), "depth"),
        (lambda: StreamConfig("PERP_BTC_USDT", channel=Channel.TRADES, rpi=True), "rpi"),
    ],
)
def test_options_trades_do_not_take_are_refused_by_name(
    build: Callable[[], Any], match: str
) -> None:
    with pytest.raises(InvalidRequest, match=match):
        build()


async def test_an_unknown_symbol_fails_its_trades_stream_only() -> None:
    async with running({"speed": 600.0}) as h:
        nope = await h.manager.start(
            h.session, StreamConfig("PERP_NOPE_USDT", channel=Channel.TRADES)
        )
        other = await h.manager.start(
            h.session, StreamConfig("PERP_BTC_USDT", channel=Channel.TRADES)
        )
        with pytest.raises(UnknownSymbol) as info:
            await collect(nope, lambda ev: False)
        assert info.value.symbol == "PERP_NOPE_USDT"
        assert nope.id not in h.manager.streams
        assert check_tape(h.sim, "PERP_BTC_USDT", await collect(other, n_trades(50))) == []
        assert h.sim.connections_opened == 1
