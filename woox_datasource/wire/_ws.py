"""WOO X v3 public WebSocket: topics, command frames, and parsing of everything the server sends.

Push parsing is on the hot path (10,000 messages/s across streams), so a well-formed push costs
one JSON parse, one tuple fetch, a few cached Decimal look-ups and one record; anything unusual
falls through to a slow path that names exactly what is wrong in a :class:`MalformedFrame`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Final

import attrs

from host_stub.spec import OHLCV
from woox_datasource.timeframes import BY_WS_TYPE, Timeframe
from woox_datasource.wire._candles import DecimalCache, checked_candle
from woox_datasource.wire._http import loads, market_parts
from woox_datasource.wire._topics import kline_topic as kline_topic

MAX_TOPICS_PER_SUBSCRIBE: Final = 10
"""Documented as 20, but the live probe saw 11..21 refused with ``Command type invalid!``."""
MAX_TOPICS_PER_CONNECTION: Final = 100
SUBSCRIBE: Final = "SUBSCRIBE"
UNSUBSCRIBE: Final = "UN_SUBSCRIBE"
ERROR_CMD: Final = "ERROR"
PING: Final = "PING"
PONG: Final = "PONG"
_KLINE: Final = "kline"


class MalformedFrame(ValueError):
    """The server sent something this parser cannot read: bad JSON, a missing or mistyped field,
    an impossible candle, or a shape we do not know. ``reason`` says which."""

    def __init__(self, reason: str, frame: str | bytes | None = None) -> None:
        self.reason = reason
        excerpt = ""
        if frame is not None:
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            excerpt = f": {text[:200]!r}" + ("..." if len(text) > 200 else "")
        super().__init__(f"malformed WOO X frame, {reason}{excerpt}")


@attrs.frozen
class KlinePush:
    """A kline update. ``ts`` is when the server sent it, ``generated_ts`` when the kline was
    generated and ``last_trade_ts`` the time of its last trade (the latter two when present)."""

    topic: str
    ts: int
    candle: OHLCV
    generated_ts: int | None = None
    last_trade_ts: int | None = None


@attrs.frozen
class CommandReply:
    """Answer to a command (or ``cmd: ERROR`` for frames the server could not read).

    ``topics`` is the list an ack accepted (compare it with what you asked: WOO X acknowledges
    unknown symbols with ``success: true`` and an empty list); ``error`` is the refusal text."""

    id: str
    cmd: str
    success: bool
    topics: tuple[str, ...] | None
    error: str | None


@attrs.frozen
class ServerPing:
    """The server pinged us; answer with :func:`pong_frame`."""

    ts: int | None


@attrs.frozen
class Pong:
    """The server's answer to our ``PING``."""

    time: int | None


WsFrame = KlinePush | CommandReply | ServerPing | Pong


def parse_kline_topic(topic: str) -> tuple[str, str] | None:
    """(symbol, ws_type) of a kline topic, or None for any other topic."""
    parts = topic.split("@")
    if len(parts) != 3 or parts[0] != _KLINE or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _command(cmd: str, req_id: str, topics: Sequence[str]) -> str:
    if isinstance(topics, str):
        raise TypeError("topics must be a sequence of topic strings, not one string")
    if not 1 <= len(topics) <= MAX_TOPICS_PER_SUBSCRIBE:
        raise ValueError(
            f"{cmd} takes 1..{MAX_TOPICS_PER_SUBSCRIBE} topics per frame, got {len(topics)}"
        )
    return _dump({"id": req_id, "cmd": cmd, "params": list(topics)})


def subscribe_frame(req_id: str, topics: Sequence[str]) -> str:
    """``{"id":..,"cmd":"SUBSCRIBE","params":[...]}``; at most 10 topics (see the constant)."""
    return _command(SUBSCRIBE, req_id, topics)


def unsubscribe_frame(req_id: str, topics: Sequence[str]) -> str:
    """``{"id":..,"cmd":"UN_SUBSCRIBE","params":[...]}``; at most 10 topics."""
    return _command(UNSUBSCRIBE, req_id, topics)


def ping_frame(ts_ms: int) -> str:
    """Our keep-alive: the live server drops a socket silent for ~60 s."""
    return _dump({"cmd": PING, "ts": ts_ms})


def pong_frame(ts_ms: int) -> str:
    """Our answer to a server ``PING``."""
    return _dump({"cmd": PONG, "ts": ts_ms})


# ---- parsing ----------------------------------------------------------------------------------

_PUSH_KEYS: Final = ("st", "et", "o", "h", "l", "c", "v", "a", "s", "t")
_push_fields = itemgetter(*_PUSH_KEYS)
_topics: dict[str, tuple[str, Timeframe]] = {}
"""Known kline topics -> (symbol, timeframe). Bounded: cleared if it ever grows past a few
thousand (a process subscribes to at most hundreds)."""
_prices = DecimalCache()
"""Shared price memo across pushes (a candle's open/high/low repeat push after push); cleared
when it grows large, so memory stays bounded."""
_MAX_MEMO: Final = 4096


def _optional_ms(value: object) -> int | None:
    return value if type(value) is int else None


def _kline_target(topic: object, frame: str | bytes) -> tuple[str, Timeframe]:
    found = _topics.get(topic) if type(topic) is str else None
    if found is not None:
        return found
    if not isinstance(topic, str):
        raise MalformedFrame(f"topic is not a string ({topic!r})", frame)
    parsed = parse_kline_topic(topic)
    if parsed is None:
        raise MalformedFrame(f"unsupported topic {topic!r} (only kline@SYMBOL@TYPE)", frame)
    symbol, ws_type = parsed
    tf = BY_WS_TYPE.get(ws_type)
    if tf is None:
        raise MalformedFrame(f"unknown kline type {ws_type!r} in topic {topic!r}", frame)
    if market_parts(symbol) is None:
        raise MalformedFrame(f"unexpected symbol {symbol!r} in topic {topic!r}", frame)
    if len(_topics) >= _MAX_MEMO:
        _topics.clear()
    _topics[topic] = found = (symbol, tf)
    return found


def _slow_push(doc: dict[str, Any], symbol: str, tf: Timeframe, frame: str | bytes) -> OHLCV:
    data = doc.get("data")
    if not isinstance(data, dict):
        raise MalformedFrame("push without a data object", frame)
    missing = [k for k in _PUSH_KEYS if k not in data]
    if missing:
        raise MalformedFrame(f"push data lacks {', '.join(missing)}", frame)
    if data["s"] != symbol or data["t"] != tf.ws_type:
        raise MalformedFrame(
            f"push data is for {data['s']!r}@{data['t']!r}, not its topic's "
            f"{symbol!r}@{tf.ws_type!r}",
            frame,
        )
    try:
        return checked_candle(symbol, tf.interval, _push_fields(data)[:8], _prices)
    except ValueError as exc:
        raise MalformedFrame(f"bad candle: {exc}", frame) from None


def _push(doc: dict[str, Any], frame: str | bytes) -> KlinePush:
    topic = doc["topic"]
    symbol, tf = _kline_target(topic, frame)
    ts = doc.get("ts")
    if type(ts) is not int:
        raise MalformedFrame(f"push ts is not integer ms ({ts!r})", frame)
    data: Any = doc.get("data")
    cache = _prices
    if len(cache) > _MAX_MEMO:
        cache.clear()
    try:
        st, et, o, h, low, c, v, a, s, t = _push_fields(data)
        o, h, low, c, v, a = cache[o], cache[h], cache[low], cache[c], cache[v], cache[a]
        ok = (
            s == symbol and t == tf.ws_type and type(st) is int and type(et) is int
            and st < et and low <= o <= h and low <= c <= h
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, ArithmeticError):
        ok = False
    if ok:
        candle = OHLCV(symbol, tf.interval, st, et, o, h, low, c, v, a)
    else:
        candle = _slow_push(doc, symbol, tf, frame)
    return KlinePush(topic, ts, candle, _optional_ms(data.get("ts")), _optional_ms(data.get("tts")))


def _error_text(doc: dict[str, Any]) -> str | None:
    for key in ("data", "message", "errorMsg"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _reply(doc: dict[str, Any], cmd: object, frame: str | bytes) -> WsFrame:
    if not isinstance(cmd, str):
        raise MalformedFrame(f"cmd is not a string ({cmd!r})", frame)
    upper = cmd.upper()
    if upper == PING:
        return ServerPing(_optional_ms(doc.get("ts")))
    if upper == PONG:
        return Pong(_optional_ms(doc.get("time", doc.get("ts"))))
    success = doc.get("success")
    if not isinstance(success, bool):
        raise MalformedFrame(f"{cmd} reply without a boolean success ({success!r})", frame)
    req_id = doc.get("id")
    if req_id is None:
        req_id = ""
    elif isinstance(req_id, int | str) and not isinstance(req_id, bool):
        req_id = str(req_id)
    else:
        raise MalformedFrame(f"reply id is neither string nor integer ({req_id!r})", frame)
    data = doc.get("data")
    topics: tuple[str, ...] | None = None
    if isinstance(data, list):
        if not all(isinstance(x, str) for x in data):
            raise MalformedFrame("reply data list holds non-string topics", frame)
        topics = tuple(data)
    error = _error_text(doc)
    if not success and error is None:
        error = "refused without a reason"
    return CommandReply(req_id, cmd, success, topics, None if success else error)


def parse_ws_frame(frame: str | bytes) -> WsFrame:
    """Parse one text frame from the v3 public socket, or raise :class:`MalformedFrame`."""
    try:
        doc = loads(frame)
    except ValueError:
        raise MalformedFrame("not JSON", frame) from None
    if type(doc) is not dict:
        raise MalformedFrame("not a JSON object", frame)
    if "topic" in doc:
        return _push(doc, frame)
    if "cmd" in doc:
        return _reply(doc, doc["cmd"], frame)
    raise MalformedFrame(f"unknown frame shape (keys {sorted(doc)[:8]})", frame)


# --- the live stream's hot path ---
# A leaner twin of parse_ws_frame for the live stream (same results, same errors).
from decimal import Decimal  # noqa: E402

from woox_datasource.wire._candles import _SETTERS  # noqa: E402  (OHLCV's slot setters)

_new_record = object.__new__
_ZERO_DECIMAL: Final = Decimal(0)
if tuple(a.name for a in attrs.fields(KlinePush)) != (
    "topic", "ts", "candle", "generated_ts", "last_trade_ts"
):  # fmt: skip  # pragma: no cover
    raise ImportError("KlinePush changed its fields; update parse_stream_frame")
_set_topic, _set_ts, _set_candle, _set_generated, _set_trade = (
    KlinePush.__dict__[field.name].__set__ for field in attrs.fields(KlinePush)
)


def _unusable(_record: object, _value: object) -> None:  # pragma: no cover
    raise AssertionError("OHLCV is built through its constructor")


(_set_symbol, _set_interval, _set_open_time, _set_close_time, _set_open, _set_high, _set_low,
 _set_close, _set_volume, _set_quote) = _SETTERS or (_unusable,) * 10  # fmt: skip
_FILL_SLOTS: Final = _SETTERS is not None
_NEVER: Final = object()
"""Equal to nothing: the 'previous push' of a topic before its first one."""
_NO_PUSH: Final = (_NEVER,) * 10
_last: dict[str, list[Any]] = {}
"""Kline topic -> [symbol, interval, ws_type, fields, candle] of its last push that took the
fast path: ``fields`` as read from the wire, ``candle`` what they became. Bounded like _topics."""


def _first_push(topic: str) -> list[Any]:
    symbol, tf = _topics[topic]  # (KeyError: a topic parse_ws_frame has not vetted yet)
    if len(_last) >= _MAX_MEMO:
        _last.clear()
    last = _last[topic] = [symbol, tf.interval, tf.ws_type, _NO_PUSH, None]
    return last


def parse_stream_frame(frame: str | bytes) -> WsFrame:
    """:func:`parse_ws_frame`, faster on well-formed kline pushes (the live stream's hot path).

    A topic's pushes mostly repeat its previous values (the open always, high and low nearly
    always, everything on a quiet market), so each topic remembers its last push: a field sent
    with exactly the same string reuses that push's Decimal, which was checked then, and only
    changed fields are parsed and checked (prices against each other, amounts finite and not
    negative; a new open or close must lie in [low, high], which bounds it too). Records are
    filled slot by slot (their classes have no validators or hooks to skip, which the import-time
    checks of the slot setters guarantee). Anything the fast path does not vouch for is parsed
    again by :func:`parse_ws_frame`, so results and errors are exactly that function's."""
    try:
        doc = loads(frame)
        topic = doc["topic"]
        last = _last.get(topic) or _first_push(topic)
        symbol, interval, ws_type, before, previous = last
        data = doc["data"]
        ts = doc["ts"]
        fields = _push_fields(data)
        st, et, o, h, low, c, v, a, s, t = fields
        _, _, was_o, was_h, was_low, was_c, was_v, was_a, _, _ = before
        # Unrolled field by field on purpose (a helper call each would cost what the memo
        # saves). A value equal to the previous string is that string; anything but a string
        # is left to the reference parser.
        if o == was_o:
            o = previous.open
        elif type(o) is str:
            o = Decimal(o)
        else:
            raise TypeError
        if h == was_h:
            h = previous.high
        elif type(h) is str and (h := Decimal(h)).is_finite():
            pass
        else:
            raise TypeError
        if low == was_low:
            low = previous.low
        elif type(low) is str and (low := Decimal(low)) >= _ZERO_DECIMAL:
            pass
        else:
            raise TypeError
        if c == was_c:
            c = previous.close
        elif type(c) is str:
            c = Decimal(c)
        else:
            raise TypeError
        if v == was_v:
            v = previous.volume
        elif type(v) is str and (v := Decimal(v)).is_finite() and v >= _ZERO_DECIMAL:
            pass
        else:
            raise TypeError
        if a == was_a:
            a = previous.quote_volume
        elif type(a) is str and (a := Decimal(a)).is_finite() and a >= _ZERO_DECIMAL:
            pass
        else:
            raise TypeError
        ok = (
            type(ts) is int and s == symbol and t == ws_type and type(st) is int
            and type(et) is int and st < et and low <= o <= h and low <= c <= h
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, ArithmeticError):
        ok = False
    if not ok:
        return parse_ws_frame(frame)
    if _FILL_SLOTS:
        candle = _new_record(OHLCV)
        _set_symbol(candle, symbol)
        _set_interval(candle, interval)
        _set_open_time(candle, st)
        _set_close_time(candle, et)
        _set_open(candle, o)
        _set_high(candle, h)
        _set_low(candle, low)
        _set_close(candle, c)
        _set_volume(candle, v)
        _set_quote(candle, a)
    else:  # pragma: no cover
        candle = OHLCV(symbol, interval, st, et, o, h, low, c, v, a)
    last[3] = fields
    last[4] = candle
    push: KlinePush = _new_record(KlinePush)
    _set_topic(push, topic)
    _set_ts(push, ts)
    _set_candle(push, candle)
    made = data.get("ts")
    _set_generated(push, made if type(made) is int else None)
    made = data.get("tts")
    _set_trade(push, made if type(made) is int else None)
    return push
