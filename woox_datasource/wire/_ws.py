"""WOO X v3 public WebSocket: command frames, the frame envelope, and kline pushes.

Two steps, so that a connection can route a push by its topic without reading its payload:
:func:`decode_frame` reads only the envelope (``topic``, ``ts``, and ``data`` left as undecoded
JSON, :class:`msgspec.Raw`) or a control frame; the channel owning the topic then decodes
``data`` with its own typed decoder (``decode_kline`` here, the others in ``_channels``). Both
steps run in C (msgspec) on the hot path; anything unusual falls through to a careful path that
names exactly what is wrong in a :class:`MalformedFrame`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any, Final

import attrs
import msgspec

from host_stub.spec import OHLCV
from woox_datasource.timeframes import BY_WS_TYPE, Timeframe
from woox_datasource.wire._candles import _SETTERS, DecimalCache, checked_candle
from woox_datasource.wire._http import loads, market_parts
from woox_datasource.wire._topics import KLINE, split_topic

MAX_TOPICS_PER_SUBSCRIBE: Final = 10
"""Documented as 20, but the live probe saw 11..21 refused with ``Command type invalid!``."""
MAX_TOPICS_PER_CONNECTION: Final = 100
SUBSCRIBE: Final = "SUBSCRIBE"
UNSUBSCRIBE: Final = "UN_SUBSCRIBE"
ERROR_CMD: Final = "ERROR"
PING: Final = "PING"
PONG: Final = "PONG"


class MalformedFrame(ValueError):
    """The server sent something this parser cannot read: bad JSON, a missing or mistyped field,
    an impossible candle, or a shape we do not know. ``reason`` says which."""

    def __init__(self, reason: str, frame: str | bytes | msgspec.Raw | None = None) -> None:
        self.reason = reason
        excerpt = ""
        if frame is not None:
            text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
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
    time: int | None = attrs.field(default=None, eq=False)
    """The exchange's clock when it answered (``time``), if the reply carries it: a
    subscription is in effect from then on. Not part of equality (it describes the moment, not
    the answer)."""


@attrs.frozen
class ServerPing:
    """The server pinged us; answer with :func:`pong_frame`."""

    ts: int | None


@attrs.frozen
class Pong:
    """The server's answer to our ``PING``."""

    time: int | None


class Push(msgspec.Struct, frozen=True, gc=False):
    """A push as the connection sees it: ``topic`` (route by it), ``ts`` (when the server sent
    it, ms) and ``data``, the payload still undecoded: only the channel owning the topic reads
    it, with its decoder (:func:`decode_kline`, ``decode_trade``, ...)."""

    topic: str
    ts: int
    data: msgspec.Raw


WsFrame = KlinePush | CommandReply | ServerPing | Pong
Frame = Push | CommandReply | ServerPing | Pong
"""What :func:`decode_frame` returns: a push (payload undecoded) or a control frame."""


def parse_kline_topic(topic: str) -> tuple[str, str] | None:
    """(symbol, ws_type) of a kline topic, or None for any other topic."""
    parts = split_topic(topic)
    if parts is None or parts[0] != KLINE or parts[2] is None:
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


def _optional_ms(value: object) -> int | None:
    return value if type(value) is int else None


def _kline_target(topic: object, frame: str | bytes) -> tuple[str, Timeframe]:
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
    return symbol, tf


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
        return checked_candle(symbol, tf.interval, _push_fields(data)[:8], DecimalCache())
    except ValueError as exc:
        raise MalformedFrame(f"bad candle: {exc}", frame) from None


def _careful_push(doc: dict[str, Any], frame: str | bytes) -> KlinePush:
    """A kline push the typed path refused: accept it if it is right after all (JSON numbers,
    string timestamps), else name the problem."""
    topic = doc["topic"]
    symbol, tf = _kline_target(topic, frame)
    ts = doc.get("ts")
    if type(ts) is not int:
        raise MalformedFrame(f"push ts is not integer ms ({ts!r})", frame)
    data: Any = doc.get("data")
    candle = _slow_push(doc, symbol, tf, frame)
    return KlinePush(topic, ts, candle, _optional_ms(data.get("ts")), _optional_ms(data.get("tts")))


def _error_text(doc: dict[str, Any]) -> str | None:
    for key in ("data", "message", "errorMsg"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _reply(
    doc: dict[str, Any], cmd: object, frame: str | bytes
) -> CommandReply | ServerPing | Pong:
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
    time = _optional_ms(doc.get("time", doc.get("ts")))
    return CommandReply(req_id, cmd, success, topics, None if success else error, time)


def _careful(frame: str | bytes) -> Any:
    """The frame as plain JSON values, for the careful paths (MalformedFrame if it is none)."""
    try:
        doc = loads(frame)
    except msgspec.DecodeError:
        raise MalformedFrame("not JSON", frame) from None
    if type(doc) is not dict:
        raise MalformedFrame("not a JSON object", frame)
    return doc


def _control(frame: str | bytes) -> CommandReply | ServerPing | Pong:
    """A frame that is not a well-formed push: a control frame, or a MalformedFrame naming why
    it is neither."""
    doc = _careful(frame)
    if "topic" in doc:
        topic, ts, data = doc["topic"], doc.get("ts"), doc.get("data")
        if not isinstance(topic, str):
            raise MalformedFrame(f"topic is not a string ({topic!r})", frame)
        if type(ts) is not int:
            raise MalformedFrame(f"push ts is not integer ms ({ts!r})", frame)
        if not isinstance(data, dict):
            raise MalformedFrame("push without a data object", frame)
        raise MalformedFrame("push envelope unreadable", frame)  # pragma: no cover
    if "cmd" in doc:
        return _reply(doc, doc["cmd"], frame)
    raise MalformedFrame(f"unknown frame shape (keys {sorted(doc)[:8]})", frame)


_PUSH: Final = msgspec.json.Decoder(Push)


def decode_frame(frame: str | bytes) -> Frame:
    """Read one text frame of the v3 public socket: a :class:`Push` whose payload is left for
    its channel, or a control frame (:class:`CommandReply`, :class:`ServerPing`,
    :class:`Pong`). Raises :class:`MalformedFrame` naming what is wrong."""
    try:
        return _PUSH.decode(frame)
    except msgspec.DecodeError:
        return _control(frame)


class _KlineData(msgspec.Struct, frozen=True, gc=False):
    s: str
    t: str
    st: int
    et: int
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 (WOO X's spelling)
    c: Decimal
    v: Decimal
    a: Decimal
    ts: int | None = None
    tts: int | None = None


_KLINE_DATA: Final = msgspec.json.Decoder(_KlineData)
_ZERO: Final = Decimal(0)
_INF: Final = Decimal("Infinity")
_new = object.__new__
_FIELDS_OK: Final = tuple(a.name for a in attrs.fields(KlinePush)) == (
    "topic", "ts", "candle", "generated_ts", "last_trade_ts"
)  # fmt: skip
if not _FIELDS_OK:  # pragma: no cover
    raise ImportError("KlinePush changed its fields; update decode_kline")
_SET_PUSH: Final = [KlinePush.__dict__[a.name].__set__ for a in attrs.fields(KlinePush)]


def decode_kline(push: Push, frame: str | bytes | None = None) -> KlinePush:
    """The kline push ``push`` carries, checked: its topic names a known kline type and symbol,
    its data is for that topic, prices are numbers with low <= open, close <= high, volumes
    finite and not negative, start before end. Raises :class:`MalformedFrame` naming the
    problem (``frame``, the whole text if at hand, is quoted in it).

    The hot path of the candle stream: one typed decode in C, no cache of any kind (a venue's
    topics can outgrow any fixed size; nothing here needs one), and records filled slot by
    slot (OHLCV and KlinePush have no validators or hooks to skip: checked at import)."""
    topic = push.topic
    parts = topic.split("@")
    try:
        _, symbol, ws_type = parts
        tf = BY_WS_TYPE[ws_type]
        d = _KLINE_DATA.decode(push.data)
        ok = (
            parts[0] == KLINE and d.s == symbol and d.t == ws_type and d.st < d.et
            and symbol[:5] in ("SPOT_", "PERP_")
            and _ZERO <= d.l <= d.o <= d.h < _INF and d.l <= d.c <= d.h
            and _ZERO <= d.v < _INF and _ZERO <= d.a < _INF
        )  # fmt: skip
    except (ValueError, KeyError, ArithmeticError):  # (msgspec.DecodeError is a ValueError)
        ok = False
    if not ok or _SETTERS is None:
        return _careful_push(
            {"topic": topic, "ts": push.ts, "data": loads(push.data)}, frame or push.data
        )
    s_symbol, s_interval, s_open_time, s_close_time, s_o, s_h, s_l, s_c, s_v, s_a = _SETTERS
    candle = _new(OHLCV)
    s_symbol(candle, symbol)
    s_interval(candle, tf.interval)
    s_open_time(candle, d.st)
    s_close_time(candle, d.et)
    s_o(candle, d.o)
    s_h(candle, d.h)
    s_l(candle, d.l)
    s_c(candle, d.c)
    s_v(candle, d.v)
    s_a(candle, d.a)
    record = _new(KlinePush)
    set_topic, set_ts, set_candle, set_generated, set_trade = _SET_PUSH
    set_topic(record, topic)
    set_ts(record, push.ts)
    set_candle(record, candle)
    set_generated(record, d.ts)
    set_trade(record, d.tts)
    return record


class KlineHead(msgspec.Struct, frozen=True, gc=False):
    """What finality and gap tracking need of a kline push: whose candle it is and its span.
    Read alone it costs about a tenth of the whole push (no ``Decimal`` built, no record), so a
    stream can leave the candle itself (:func:`decode_kline`) for the pushes somebody will
    actually receive. Nothing here is checked beyond its types."""

    symbol: str = msgspec.field(name="s")
    type: str = msgspec.field(name="t")
    open_time: int = msgspec.field(name="st")
    close_time: int = msgspec.field(name="et")


_KLINE_HEAD: Final = msgspec.json.Decoder(KlineHead)


def decode_kline_head(push: Push) -> KlineHead | None:
    """The head of the kline push ``push`` carries, or None if its payload has no well-typed
    one (:func:`decode_kline` then says what is wrong, or reads it the careful way)."""
    try:
        return _KLINE_HEAD.decode(push.data)
    except msgspec.DecodeError:
        return None


def parse_ws_frame(frame: str | bytes) -> WsFrame:
    """Parse one text frame from the v3 public socket, kline pushes decoded, or raise
    :class:`MalformedFrame` (a push of another channel is one here: use :func:`decode_frame`
    and the channel's decoder for those)."""
    decoded = decode_frame(frame)
    if isinstance(decoded, Push):
        return decode_kline(decoded, frame)
    return decoded


parse_stream_frame = parse_ws_frame
"""The stream's name for :func:`parse_ws_frame` (once a leaner twin of it; msgspec made the one
path fast enough)."""
