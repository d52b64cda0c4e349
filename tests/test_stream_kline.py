"""The candle channel's lazy pushes: a push's head read alone, its candle built only when a
consumer takes it (or when it closes its candle), with exactly the records and errors the whole
decode gives; malformed values found then are dropped and counted, superseded ones never read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from test_stream_wire import digits, frames

from host_stub.spec import OHLCV, CandleEvent, StatusEvent, StatusKind, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.candle_kline import read_kline
from woox_datasource.channels.candle_stream import CandleStream
from woox_datasource.stream import StreamEnv, StreamOptions, StreamStats
from woox_datasource.timeframes import BY_WS_TYPE

ST = 1_700_000_040_000


def push(*, ts: int, st: int = ST, low: str = "99", **data: Any) -> wire.Push:
    body = {"s": "SPOT_BTC_USDT", "t": "1m", "o": "100", "c": "100.5", "h": "101", "l": low,
            "v": "2", "a": "200.5", "st": st, "et": st + 60_000, **data}  # fmt: skip
    frame = json.dumps({"topic": "kline@SPOT_BTC_USDT@1m", "ts": ts, "data": body})
    decoded = wire.decode_frame(frame)
    assert isinstance(decoded, wire.Push)
    return decoded


def whole(frame: str) -> object:
    try:
        kline = wire.parse_ws_frame(frame)
    except wire.MalformedFrame as exc:
        return ("error", exc.reason)
    assert isinstance(kline, wire.KlinePush)
    return candle_fields(kline.candle)


def candle_fields(c: OHLCV) -> object:
    return tuple(map(digits, (c.symbol, c.interval, c.open_time, c.close_time, c.open, c.high,
                              c.low, c.close, c.volume, c.quote_volume)))  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(frames())
def test_a_lazy_push_gives_what_the_whole_decode_gives(frame: str) -> None:
    try:
        envelope = wire.decode_frame(frame)
    except wire.MalformedFrame:
        return  # (the envelope step is the same for both: nothing lazy about it)
    assert isinstance(envelope, wire.Push)
    target = wire.parse_kline_topic(envelope.topic)
    assume(target is not None and target[1] in BY_WS_TYPE)  # a topic a candle feed owns
    assert target is not None
    try:
        kline = read_kline(envelope, *target)
        got: object = candle_fields(kline.candle)  # (a provisional one: decoded here)
        assert (kline.open_time, kline.close_time) == (kline.candle.open_time,
                                                       kline.candle.close_time)  # fmt: skip
    except wire.MalformedFrame as exc:
        got = ("error", exc.reason)  # (the excerpt quoted differs: payload vs frame)
    assert got == whole(frame)


def test_only_a_closing_push_is_decoded_at_once() -> None:
    provisional = read_kline(push(ts=ST + 5), "SPOT_BTC_USDT", "1m")
    closing = read_kline(push(ts=ST + 60_000), "SPOT_BTC_USDT", "1m")
    assert provisional.decoded is None
    assert closing.decoded is not None and closing.decoded.close_time == ST + 60_000
    with pytest.raises(wire.MalformedFrame, match="low"):
        read_kline(push(ts=ST + 60_000, low="102"), "SPOT_BTC_USDT", "1m")  # a final: at once
    lazy = read_kline(push(ts=ST + 5, low="102"), "SPOT_BTC_USDT", "1m")  # provisional: later
    with pytest.raises(wire.MalformedFrame, match="low"):
        _ = lazy.candle


def test_two_states_are_equal_when_their_payloads_are() -> None:
    a, again = (read_kline(push(ts=ST + 5), "SPOT_BTC_USDT", "1m") for _ in range(2))
    other = read_kline(push(ts=ST + 5, v="3"), "SPOT_BTC_USDT", "1m")
    assert a == again and a != other
    assert a == a.candle and a != other.candle  # against a record: by its candle
    bad = read_kline(push(ts=ST + 5, low="102"), "SPOT_BTC_USDT", "1m")
    assert bad != a.candle  # undecodable: equal to no record


async def test_a_consumer_gets_the_newest_state_built_once_and_malformed_ones_dropped() -> None:
    stats = StreamStats()

    async def stop(_: str) -> None:
        return None

    env = StreamEnv(StreamOptions(), stats, stop)
    stream = CandleStream("s", symbol="SPOT_BTC_USDT", tf=BY_WS_TYPE["1m"],
                          config=StreamConfig("SPOT_BTC_USDT", 60), env=env)  # fmt: skip
    states = [read_kline(push(ts=ST + i, v=str(i + 1)), "SPOT_BTC_USDT", "1m") for i in range(50)]
    for state in states:
        stream.offer_provisional(state)
    stream.offer_status(StatusEvent(StatusKind.CONNECTED, "SPOT_BTC_USDT", 60))
    nxt = ST + 60_000
    stream.offer_provisional(read_kline(push(ts=nxt + 1, st=nxt, low="102"), "SPOT_BTC_USDT", "1m"))
    stream.offer_provisional(read_kline(push(ts=nxt + 2, st=nxt, v="7"), "SPOT_BTC_USDT", "1m"))
    first, status, second = [await anext(stream) for _ in range(3)]
    assert isinstance(first, CandleEvent) and not first.final
    assert first.candle.volume == 50 and first is states[-1].provisional()
    assert all(s.decoded is None for s in states[:-1])  # superseded: never built
    assert isinstance(status, StatusEvent)
    assert isinstance(second, CandleEvent) and second.candle.volume == 7
    assert stats.conflated == 49 + 1 and stats.malformed == 0  # the bad one was superseded
    stream.offer_provisional(read_kline(push(ts=nxt + 3, st=nxt, low="102"), "SPOT_BTC_USDT", "1m"))
    stream.offer_provisional(
        read_kline(push(ts=nxt + 60_001, st=nxt + 60_000), "SPOT_BTC_USDT", "1m")
    )
    third = await anext(stream)  # the malformed one is dropped when taken, and counted
    assert isinstance(third, CandleEvent) and third.candle.open_time == nxt + 60_000
    assert stats.malformed == 1
    stream.shutdown()
