"""``wire.parse_stream_frame`` (the stream's fast push parser) is ``wire.parse_ws_frame``
exactly: same records with the same digits, same errors, on valid and broken frames alike."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from woox_datasource import wire

NUMBER = st.one_of(
    st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False).map(str),
    st.sampled_from(["0", "1", "-1", "NaN", "Infinity", "1e5", "0.10", "abc", ""]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 10**12),
    st.none(),
)


@st.composite
def frames(draw: st.DrawFn) -> str:
    symbol = draw(st.sampled_from(["SPOT_BTC_USDT", "PERP_ETH_USDT", "SPOT_1INCH_USDT"]))
    ws_type = draw(st.sampled_from(["1m", "1h", "3d", "1M"]))
    start = draw(st.integers(0, 2 * 10**12))
    price = draw(st.decimals(min_value=1, max_value=10**6, places=2, allow_nan=False))
    spread = draw(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False))
    data: dict[str, Any] = {
        "s": symbol, "t": ws_type, "o": str(price), "c": str(price + spread / 2),
        "h": str(price + spread), "l": str(price - min(spread, price - 1)), "v": "1.5",
        "a": "150.25", "st": start, "et": start + 60_000, "ts": start + 5, "tts": start + 4,
    }  # fmt: skip
    doc: dict[str, Any] = {"topic": f"kline@{symbol}@{ws_type}", "ts": start + 7, "data": data}
    for _ in range(draw(st.integers(0, 2))):  # break it a little, sometimes
        what = draw(st.sampled_from(["field", "drop", "ts", "topic", "symbol"]))
        if what == "field":
            data[draw(st.sampled_from(sorted(data)))] = draw(NUMBER)
        elif what == "drop":
            data.pop(draw(st.sampled_from(sorted(data))), None)
        elif what == "ts":
            doc["ts"] = draw(NUMBER)
        elif what == "topic":
            doc["topic"] = draw(st.sampled_from(["kline@SPOT_BTC_USDT@5y", "trade@X", 5]))
        else:
            data["s"] = "SPOT_ETH_USDT"
    return json.dumps(doc)


def digits(value: object) -> object:
    return value.as_tuple() if isinstance(value, Decimal) else value


def outcome(parse: Any, frame: str) -> object:
    try:
        push = parse(frame)
    except wire.MalformedFrame as exc:
        return ("error", str(exc))
    assert isinstance(push, wire.KlinePush)
    c = push.candle
    fields = (c.symbol, c.interval, c.open_time, c.close_time, c.open, c.high, c.low, c.close,
              c.volume, c.quote_volume)  # fmt: skip
    return (push.topic, push.ts, push.generated_ts, push.last_trade_ts, *map(digits, fields))


@settings(max_examples=400, deadline=None)
@given(frames())
def test_fast_parser_is_the_reference_parser(frame: str) -> None:
    assert outcome(wire.parse_stream_frame, frame) == outcome(wire.parse_ws_frame, frame)


def test_control_frames_and_garbage_go_the_reference_way() -> None:
    for frame in ['{"cmd":"PING","ts":5}', '{"id":"1","cmd":"SUBSCRIBE","success":true,"data":[]}',
                  "not json", "[1]", '{"x":1}']:  # fmt: skip
        try:
            expected: object = wire.parse_ws_frame(frame)
        except wire.MalformedFrame as exc:
            expected = str(exc)
        try:
            got: object = wire.parse_stream_frame(frame)
        except wire.MalformedFrame as exc:
            got = str(exc)
        assert got == expected
