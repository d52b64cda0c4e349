"""wire: symbols, queries, the envelope's error mapping, candle/instrument rows and WS frames.

The error bodies are the ones woox-api.md §3 records from the live exchange."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from typing import Any

import attrs
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_stub.spec import (
    OHLCV,
    ExchangeError,
    InvalidRequest,
    MarketKind,
    RateLimited,
    UnknownSymbol,
)
from woox_datasource import wire
from woox_datasource.timeframes import parse_interval
from woox_datasource.wire import _candles

H1 = parse_interval("1h")
M1 = parse_interval("1m")
DOC_ROW: dict[str, Any] = {
    "symbol": "SPOT_BTC_USDT",
    "open": "108754.44",
    "close": "108995.4",
    "high": "109068.24",
    "low": "108754.44",
    "volume": "19.302362",
    "amount": "2103316.08159279",
    "type": "1h",
    "startTimestamp": 1751619600000,
    "endTimestamp": 1751623200000,
}


def page(*rows: object) -> bytes:
    return json.dumps({"success": True, "data": {"rows": list(rows)}, "timestamp": 1}).encode()


# ---- symbols and queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SPOT_BTC_USDT", "SPOT_BTC_USDT"),
        ("spot_btc_usdt", "SPOT_BTC_USDT"),
        (" perp_eth_usdt ", "PERP_ETH_USDT"),
        ("PERP_1INCH_USDT", "PERP_1INCH_USDT"),
        ("SPOT_0G_USDT", "SPOT_0G_USDT"),
        ("SPOT_BTC_USDC", "SPOT_BTC_USDC"),
    ],
)
def test_normalize_symbol_accepts(raw: str, expected: str) -> None:
    assert wire.normalize_symbol(raw) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("BTC_USDT", "did you mean SPOT_BTC_USDT"),
        ("BTC/USDT", "ccxt's spelling"),
        ("BTC/USDT:USDT", "PERP_BTC_USDT"),
        ("spot-btc-usdt", "did you mean SPOT_BTC_USDT?"),
        ("SPOT_BTC_USDT,SPOT_ETH_USDT", "one symbol at a time"),  # not "SPOT_SPOT_BTC"
        ("FUTURES_BTC_USDT", "SPOT_<BASE>_<QUOTE>"),
        ("SPOT_BTC", "SPOT_<BASE>_<QUOTE>"),
        ("SPOT__USDT", "SPOT_<BASE>_<QUOTE>"),
        ("", "e.g. SPOT_BTC_USDT"),
        (42, "must be a string"),
    ],
)
def test_normalize_symbol_rejects_with_format_help(raw: object, hint: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        wire.normalize_symbol(raw)
    assert hint in str(info.value)
    assert "without the SPOT_ prefix" in str(info.value)


def test_kline_history_query_sends_only_before() -> None:
    q = wire.kline_history_query("SPOT_BTC_USDT", "1mon", before=1700000000000, limit=1000)
    assert q == {
        "symbol": "SPOT_BTC_USDT",
        "type": "1mon",
        "limit": "1000",
        "before": "1700000000000",
    }
    assert "after" not in wire.kline_history_query("SPOT_BTC_USDT", "1m", before=None, limit=5)
    with pytest.raises(ValueError, match="limit"):
        wire.kline_history_query("SPOT_BTC_USDT", "1m", before=None, limit=1001)
    with pytest.raises(ValueError, match="limit"):
        wire.latest_kline_query("SPOT_BTC_USDT", "1m", limit=0)


def test_endpoints() -> None:
    assert wire.REST_URLS == {
        "production": "https://api.woox.io",
        "staging": "https://api.staging.woox.io",
    }
    assert wire.WS_URLS["production"] == "wss://wss.woox.io/v3/public"
    assert wire.WS_URLS["staging"] == "wss://wss.staging.woox.io/v3/public"
    assert wire.KLINE_HISTORY_PATH == "/v3/public/klineHistory"
    assert wire.INSTRUMENTS_PATH == "/v3/public/instruments"


# ---- envelope ---------------------------------------------------------------------------------


def test_envelope_success_returns_data() -> None:
    assert wire.parse_envelope(200, b'{"success":true,"data":{"rows":[]},"timestamp":1}') == {
        "rows": []
    }


def raised(status: int, body: bytes) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the callers check the exact type
        wire.parse_envelope(status, body)
    return info.value


def test_rate_limit_bodies() -> None:
    err = raised(429, b'{"success":false,"code":-1003,"message":"Rate limit exceed."}')
    assert isinstance(err, RateLimited)
    assert (err.code, err.status, err.message, err.retryable) == (
        -1003,
        429,
        "Rate limit exceed.",
        True,
    )
    assert isinstance(raised(429, b"<html>Too Many Requests</html>"), RateLimited)
    assert isinstance(raised(200, b'{"success":false,"code":-1003,"message":"x"}'), RateLimited)


@pytest.mark.parametrize("status", [400, 500])
def test_invalid_symbol_is_unknown_symbol(status: int) -> None:
    err = raised(status, b'{"success":false,"message":"invalid symbol PERP_NOPE_USDT"}')
    assert isinstance(err, UnknownSymbol)
    assert isinstance(err, wire.WooUnknownSymbol)
    assert err.symbol == "PERP_NOPE_USDT"
    assert (err.status, err.code, err.message) == (status, None, "invalid symbol PERP_NOPE_USDT")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"success":false,"code":-1005,"error_code":90000,'
         b'"message":"invalid request, please check your request"}', -1005),
        (b'{"success":false,"code":-1004,"message":"unknown param foo"}', -1004),
        (b'{"success":false,"message":"type is invalid"}', None),
    ],
)  # fmt: skip
def test_bad_params_are_invalid_request_with_the_exchange_message(
    body: bytes, code: int | None
) -> None:
    err = raised(400, body)
    assert isinstance(err, wire.WooInvalidRequest)
    assert isinstance(err, InvalidRequest)
    assert err.code == code
    assert err.status == 400
    assert err.message == json.loads(body)["message"]
    assert err.message in str(err)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, b'{"success":false,"code":-1000,"message":"The server encountered an internal '
              b'error, request id: abc"}', -1000),
        (200, b'{"code":503,"message":"[GW] no upstream server"}', 503),
        (502, b"<html><body>Bad Gateway</body></html>", None),
        (503, b"", None),
        (200, b"<html>captive portal</html>", None),
        (200, b"[1,2,3]", None),
        (200, b'"just a string"', None),
        (504, b'{"success":false,"message":"upstream timeout"}', None),
        (408, b"request timeout", None),
    ],
)  # fmt: skip
def test_transient_errors_are_retryable(status: int, body: bytes, code: int | None) -> None:
    err = raised(status, body)
    assert type(err) is ExchangeError
    assert err.retryable
    assert err.status == status
    assert err.code == code


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b'{"success":false,"code":-1002,"message":"unauthorized"}'),
        (409, b'{"success":false,"code":-1007,"message":"duplicate request"}'),
        (403, b"<html>Forbidden</html>"),
        (302, b"<html>Moved</html>"),
        (200, b'{"success":false,"error_code":111000,"message":"Position mode unchanged"}'),
        (200, b'{"success":true}'),
    ],
)
def test_permanent_errors_are_not_retryable(status: int, body: bytes) -> None:
    err = raised(status, body)
    assert type(err) is ExchangeError
    assert not err.retryable


# ---- kline rows -------------------------------------------------------------------------------


def rows(body: bytes, symbol: str = "SPOT_BTC_USDT", tf: Any = H1) -> list[OHLCV]:
    return wire.parse_kline_rows(wire.parse_envelope(200, body), symbol, tf)


def test_documented_row_keeps_every_digit() -> None:
    (candle,) = rows(page(DOC_ROW))
    assert candle == OHLCV(
        symbol="SPOT_BTC_USDT",
        interval=3600,
        open_time=1751619600000,
        close_time=1751623200000,
        open=Decimal("108754.44"),
        high=Decimal("109068.24"),
        low=Decimal("108754.44"),
        close=Decimal("108995.4"),
        volume=Decimal("19.302362"),
        quote_volume=Decimal("2103316.08159279"),
    )
    assert str(candle.quote_volume) == "2103316.08159279"
    assert str(candle.close) == "108995.4"


def test_numbers_and_string_timestamps_are_accepted_exactly() -> None:
    row = dict(DOC_ROW, open=108754.44, close=108995.4, volume=19.302362, amount=2103316.08159279,
               high="109068.24", low=108754, startTimestamp="1751619600000",
               endTimestamp="1751623200000")  # fmt: skip
    (candle,) = rows(page(row))
    assert str(candle.open) == "108754.44"  # not 108754.440000000002328306436538696...
    assert str(candle.quote_volume) == "2103316.08159279"
    assert candle.low == Decimal(108754)
    assert (candle.open_time, candle.close_time) == (1751619600000, 1751623200000)


def test_rows_keep_exchange_order_and_share_nothing_mutable() -> None:
    newer = dict(DOC_ROW, startTimestamp=1751623200000, endTimestamp=1751626800000)
    got = rows(page(newer, DOC_ROW))
    assert [c.open_time for c in got] == [1751623200000, 1751619600000]
    assert rows(page()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"open": None}, "bad open"),
        ({"high": "abc"}, "bad high"),
        ({"low": "NaN"}, "bad low"),
        ({"close": "Infinity"}, "bad close"),
        ({"volume": "-1"}, "bad volume"),
        ({"amount": True}, "bad amount"),
        ({"open": [1]}, "bad open"),
        ({"high": "108000", "low": "108754.44"}, "high 108000 is below low"),
        ({"open": "109100"}, "open 109100 is outside"),
        ({"close": "100"}, "close 100 is outside"),
        ({"symbol": "SPOT_ETH_USDT"}, "symbol 'SPOT_ETH_USDT' is not the requested"),
        ({"type": "1mon"}, "type '1mon' is not the requested '1h'"),
        ({"endTimestamp": 1751616000000}, "is not after start"),
        ({"startTimestamp": 1.5}, "bad start"),
        ({"endTimestamp": "soon"}, "bad end"),
        ({"startTimestamp": None}, "bad start"),
    ],
)
def test_malformed_row_names_the_row_and_problem(change: dict[str, Any], problem: str) -> None:
    bad = {**DOC_ROW, "startTimestamp": 1751616000000, "endTimestamp": 1751619600000, **change}
    with pytest.raises(ExchangeError) as info:
        rows(page(DOC_ROW, bad))
    assert "row 1 " in str(info.value)
    assert problem in str(info.value)
    assert not info.value.retryable


@pytest.mark.parametrize("bad", ["not a row", None, [1, 2]])
def test_non_object_row(bad: object) -> None:
    with pytest.raises(ExchangeError, match="row 0 is invalid: not an object"):
        rows(page(bad))


def test_missing_field_is_named() -> None:
    bad = {k: v for k, v in DOC_ROW.items() if k != "amount"}
    with pytest.raises(ExchangeError, match=r"row 0 is invalid: missing field.s. amount"):
        rows(page(bad))


@pytest.mark.parametrize("data", [None, [], {"rows": None}, {"nope": []}, "x"])
def test_data_without_rows(data: object) -> None:
    with pytest.raises(ExchangeError, match="no rows list"):
        wire.parse_kline_rows(data, "SPOT_BTC_USDT", H1)


decimals = st.decimals(min_value=0, max_value=10**12, places=8, allow_nan=False)


@given(values=st.lists(decimals, min_size=4, max_size=4), vol=decimals, amount=decimals)
def test_any_valid_row_round_trips_digits(
    values: list[Decimal], vol: Decimal, amount: Decimal
) -> None:
    low, o, c, high = sorted(values)
    row = dict(DOC_ROW, open=str(o), close=str(c), high=str(high), low=str(low), volume=str(vol),
               amount=str(amount))  # fmt: skip
    (candle,) = rows(page(row))
    got = (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.quote_volume)
    assert [str(x) for x in got] == [str(x) for x in (o, high, low, c, vol, amount)]


# ---- instruments ------------------------------------------------------------------------------

SPOT_ROW = {"symbol": "SPOT_AAVE_USDT", "status": "TRADING", "baseAsset": "AAVE",
            "baseAssetMultiplier": 1, "quoteAsset": "USDT", "quoteMin": "0", "quoteMax": "100000",
            "quoteTick": "0.01", "baseMin": "0.005", "baseMax": "5000", "baseTick": "0.0001",
            "minNotional": "1", "bidCapRatio": "1.1", "bidFloorRatio": None, "askCapRatio": None,
            "askFloorRatio": "0.9", "orderMode": "NORMAL", "impactNotional": None,
            "isAllowedRpi": False, "tickGranularity": None}  # fmt: skip


def test_instruments() -> None:
    perp = {"symbol": "PERP_1INCH_USDT", "status": "SUSPENDED", "quoteTick": None,
            "baseTick": "1", "fundingIntervalHours": 8, "brandNewField": {"x": 1}}  # fmt: skip
    data = {"rows": [SPOT_ROW, perp, {"symbol": "FUTURES_X_Y", "status": "TRADING"}]}
    spot, p = wire.parse_instruments(data)
    assert (spot.symbol, spot.base, spot.quote, spot.kind) == (
        "SPOT_AAVE_USDT",
        "AAVE",
        "USDT",
        MarketKind.SPOT,
    )
    assert spot.active
    assert spot.status == "TRADING"
    assert (spot.price_tick, spot.quantity_tick) == (Decimal("0.01"), Decimal("0.0001"))
    assert (spot.min_quantity, spot.max_quantity, spot.min_notional) == (
        Decimal("0.005"),
        Decimal("5000"),
        Decimal("1"),
    )
    assert str(spot.quantity_tick) == "0.0001"
    assert (p.base, p.quote, p.kind, p.active, p.status) == (
        "1INCH",
        "USDT",
        MarketKind.PERP,
        False,
        "SUSPENDED",
    )
    assert p.price_tick is None
    assert p.min_notional is None
    assert p.quantity_tick == 1


def test_instruments_garbage_is_named() -> None:
    with pytest.raises(ExchangeError, match=r"row 0 .*bad quoteTick 'x'"):
        wire.parse_instruments({"rows": [dict(SPOT_ROW, quoteTick="x")]})
    with pytest.raises(ExchangeError, match="row 1 has no symbol"):
        wire.parse_instruments({"rows": [SPOT_ROW, {"status": "TRADING"}]})


# ---- WebSocket --------------------------------------------------------------------------------

PUSH: dict[str, Any] = {
    "topic": "kline@SPOT_BTC_USDT@1m",
    "ts": 1618822432146,
    "data": {"s": "SPOT_BTC_USDT", "t": "1m", "o": "56948.97", "c": "56891.76", "h": "56948.97",
             "l": "56889.06", "v": "44.00947568", "a": "2504584.9", "st": 1618822380000,
             "et": 1618822440000, "ts": 1614152260000, "tts": 1614152250000},
}  # fmt: skip


def test_topics_and_command_frames() -> None:
    assert wire.kline_topic("PERP_BTC_USDT", "1h") == "kline@PERP_BTC_USDT@1h"
    assert wire.parse_kline_topic("kline@PERP_BTC_USDT@1M") == ("PERP_BTC_USDT", "1M")
    assert wire.parse_kline_topic("PERP_BTC_USDT@kline_1h") is None
    assert wire.parse_kline_topic("trade@SPOT_BTC_USDT") is None
    assert wire.parse_kline_topic("kline@@1m") is None
    topics = [wire.kline_topic("SPOT_BTC_USDT", "1m")]
    assert wire.subscribe_frame("7", topics) == (
        '{"id":"7","cmd":"SUBSCRIBE","params":["kline@SPOT_BTC_USDT@1m"]}'
    )
    assert wire.unsubscribe_frame("8", topics) == (
        '{"id":"8","cmd":"UN_SUBSCRIBE","params":["kline@SPOT_BTC_USDT@1m"]}'
    )
    assert wire.ping_frame(123) == '{"cmd":"PING","ts":123}'
    assert wire.pong_frame(456) == '{"cmd":"PONG","ts":456}'
    assert (wire.MAX_TOPICS_PER_SUBSCRIBE, wire.MAX_TOPICS_PER_CONNECTION) == (10, 100)
    with pytest.raises(ValueError, match=r"1\.\.10 topics"):
        wire.subscribe_frame("9", topics * 11)
    with pytest.raises(ValueError, match=r"1\.\.10 topics"):
        wire.unsubscribe_frame("9", [])
    with pytest.raises(TypeError):
        wire.subscribe_frame("9", "kline@SPOT_BTC_USDT@1m")


@pytest.mark.parametrize("as_bytes", [False, True])
def test_push_parses(as_bytes: bool) -> None:
    text = json.dumps(PUSH)
    frame = wire.parse_ws_frame(text.encode() if as_bytes else text)
    assert frame == wire.KlinePush(
        topic="kline@SPOT_BTC_USDT@1m",
        ts=1618822432146,
        candle=OHLCV(
            "SPOT_BTC_USDT",
            60,
            1618822380000,
            1618822440000,
            Decimal("56948.97"),
            Decimal("56948.97"),
            Decimal("56889.06"),
            Decimal("56891.76"),
            Decimal("44.00947568"),
            Decimal("2504584.9"),
        ),
        generated_ts=1614152260000,
        last_trade_ts=1614152250000,
    )


def test_push_month_topic_and_numbers() -> None:
    data = dict(PUSH["data"], t="1M", o=56948.97, st="1617235200000", et=1619827200000)
    data.pop("tts")
    frame = wire.parse_ws_frame(
        json.dumps({"topic": "kline@SPOT_BTC_USDT@1M", "ts": 5, "data": data})
    )
    assert isinstance(frame, wire.KlinePush)
    assert frame.candle.interval == 2592000
    assert str(frame.candle.open) == "56948.97"
    assert frame.candle.open_time == 1617235200000
    assert frame.last_trade_ts is None


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"id":"1","cmd":"SUBSCRIBE","success":true,"time":1790137718411,'
         '"data":["kline@SPOT_BTC_USDT@1m","kline@PERP_BTC_USDT@1h"]}',
         wire.CommandReply("1", "SUBSCRIBE", True,
                           ("kline@SPOT_BTC_USDT@1m", "kline@PERP_BTC_USDT@1h"), None)),
        ('{"id":"3","cmd":"SUBSCRIBE","success":true,"time":1,"data":[]}',
         wire.CommandReply("3", "SUBSCRIBE", True, (), None)),
        ('{"id":"8","cmd":"SUBSCRIBE","success":false,"time":1,"data":"Command type invalid!"}',
         wire.CommandReply("8", "SUBSCRIBE", False, None, "Command type invalid!")),
        ('{"id":"v1","cmd":"ERROR","success":false,"time":1,"data":"Command type invalid!"}',
         wire.CommandReply("v1", "ERROR", False, None, "Command type invalid!")),
        ('{"id":"","cmd":"ERROR","success":false,"time":1,"data":"Invalid request."}',
         wire.CommandReply("", "ERROR", False, None, "Invalid request.")),
        ('{"id":"1","cmd":"SUBSCRIBE","success":false,"time":1,"message":"Auth is needed."}',
         wire.CommandReply("1", "SUBSCRIBE", False, None, "Auth is needed.")),
        ('{"id":2,"cmd":"UN_SUBSCRIBE","success":false,"errorMsg":"nope"}',
         wire.CommandReply("2", "UN_SUBSCRIBE", False, None, "nope")),
        ('{"id":"4","cmd":"UN_SUBSCRIBE","success":false}',
         wire.CommandReply("4", "UN_SUBSCRIBE", False, None, "refused without a reason")),
        ('{"id":"5","cmd":"UN_SUBSCRIBE","success":true,"time":1,"data":["kline@SPOT_BTC_USDT@1m"]}',
         wire.CommandReply("5", "UN_SUBSCRIBE", True, ("kline@SPOT_BTC_USDT@1m",), None)),
        ('{"cmd":"PONG","success":true,"time":1790137731901}', wire.Pong(1790137731901)),
        ('{"cmd":"PING","ts":1790137731000}', wire.ServerPing(1790137731000)),
        ('{"cmd":"PING"}', wire.ServerPing(None)),
    ],
)  # fmt: skip
def test_control_frames(frame: str, expected: wire.WsFrame) -> None:
    assert wire.parse_ws_frame(frame) == expected


def mutate(**data: Any) -> str:
    return json.dumps(dict(PUSH, data=dict(PUSH["data"], **data)))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1,2]", "not a JSON object"),
        ('{"event":"ping"}', "unknown frame shape"),
        ('{"cmd":"SUBSCRIBE","id":"1"}', "without a boolean success"),
        ('{"cmd":7,"success":true}', "cmd is not a string"),
        ('{"cmd":"SUBSCRIBE","id":[1],"success":true}', "reply id"),
        ('{"cmd":"SUBSCRIBE","id":"1","success":true,"data":[1]}', "non-string topics"),
        (json.dumps(dict(PUSH, topic="trade@SPOT_BTC_USDT")), "unsupported topic"),
        (json.dumps(dict(PUSH, topic="kline@SPOT_BTC_USDT@1y")), "unknown kline type '1y'"),
        (json.dumps(dict(PUSH, topic="kline@BTC_USDT@1m")), "unexpected symbol"),
        (json.dumps(dict(PUSH, topic=5)), "topic is not a string"),
        (json.dumps(dict(PUSH, ts="x")), "push ts is not integer ms"),
        (json.dumps(dict(PUSH, data=None)), "without a data object"),
        (json.dumps({"topic": PUSH["topic"], "ts": 1}), "without a data object"),
        (json.dumps(dict(PUSH, data={"s": "SPOT_BTC_USDT"})), "push data lacks st, et"),
        (mutate(s="SPOT_ETH_USDT"), "not its topic's"),
        (mutate(t="5m"), "not its topic's"),
        (mutate(o="abc"), "bad candle: bad open"),
        (mutate(h="1"), "bad candle: high 1 is below low"),
        (mutate(c="99999"), "close 99999 is outside"),
        (mutate(et=1618822380000), "is not after start"),
        (mutate(st=None), "bad start"),
        (mutate(v="-5"), "bad volume"),
    ],
)
def test_malformed_frames_raise_with_reason(frame: str | bytes, reason: str) -> None:
    with pytest.raises(wire.MalformedFrame) as info:
        wire.parse_ws_frame(frame)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


# ---- the fast page path agrees with the careful one ------------------------------------------


def test_fast_built_candles_are_ordinary_records() -> None:
    assert _candles._SETTERS is not None  # OHLCV is plain enough to be filled slot by slot
    numbers = [Decimal(x) for x in ("1", "2", "0.5", "1.5", "3", "4.5")]
    (built,) = wire.build_candles([[x] for x in ("SPOT_BTC_USDT", 60, 0, 60_000, *numbers)], 1)
    plain = OHLCV("SPOT_BTC_USDT", 60, 0, 60_000, *numbers)
    assert built == plain
    assert hash(built) == hash(plain)
    assert repr(built) == repr(plain)
    assert pickle.loads(pickle.dumps(built)) == plain
    assert attrs.evolve(built, close=Decimal(2)) == attrs.evolve(plain, close=Decimal(2))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.close = Decimal(0)  # type: ignore[misc]


price = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False)


@st.composite
def pages(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=1, max_value=30))
    out = []
    for i in range(n):
        low, o, c, high = sorted(draw(st.lists(price, min_size=4, max_size=4)))
        if draw(st.booleans()):
            o, c = c, o
        start = 1_700_000_000_000 + i * 60_000
        vol, amount = draw(price), draw(price)
        numbers: list[object] = [str(x) for x in (o, c, high, low, vol, amount)]
        if draw(st.integers(0, 9)) == 0:  # now and then a JSON number, as legacy replies have
            k = draw(st.integers(0, 5))
            numbers[k] = float(str(numbers[k]))
        keys = ("open", "close", "high", "low", "volume", "amount")
        out.append({**DOC_ROW, **dict(zip(keys, numbers, strict=True)), "type": "1m",
                    "startTimestamp": start, "endTimestamp": start + 60_000})  # fmt: skip
    return out


@given(page_rows=pages(), data=st.data())
def test_any_page_parses_like_row_by_row_and_names_a_bad_row(
    page_rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    got = wire.parse_kline_rows({"rows": page_rows}, "SPOT_BTC_USDT", M1)
    expected = [
        OHLCV("SPOT_BTC_USDT", 60, r["startTimestamp"], r["endTimestamp"],
              *(Decimal(repr(x) if isinstance(x, float) else x)
                for x in (r["open"], r["high"], r["low"], r["close"], r["volume"], r["amount"])))
        for r in page_rows
    ]  # fmt: skip
    assert got == expected
    assert [str(c.open) for c in got] == [str(c.open) for c in expected]
    bad = data.draw(st.integers(0, len(page_rows) - 1))
    field, value = data.draw(
        st.sampled_from([("low", "-1"), ("high", "NaN"), ("volume", "x"), ("endTimestamp", 0)])
    )
    page_rows[bad] = {**page_rows[bad], field: value}
    with pytest.raises(ExchangeError, match=f"row {bad} is invalid"):
        wire.parse_kline_rows({"rows": page_rows}, "SPOT_BTC_USDT", M1)


def test_raw_data_and_plain_values_parse_alike() -> None:
    body = page(DOC_ROW, dict(DOC_ROW, startTimestamp=1751616000000, endTimestamp=1751619600000))
    reply = wire.parse_reply(200, body)
    assert isinstance(reply.data, msgspec.Raw)
    assert wire.parse_kline_rows(reply.data, "SPOT_BTC_USDT", H1) == rows(body)
    assert isinstance(raised(502, b"\xff<html>"), ExchangeError)
    # JSON has no NaN: a page spelling one is not JSON, retried like any garbled reply
    bad = b'{"success":true,"data":{"rows":[' + json.dumps(DOC_ROW).replace(
        '"108754.44"', "NaN", 1).encode() + b"]}}"  # fmt: skip
    garbled = raised(200, bad)
    assert isinstance(garbled, ExchangeError) and garbled.retryable
