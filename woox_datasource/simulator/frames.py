"""WebSocket frames of the simulated exchange (woox-api.md §5), written without the plugin's help.

Pushes are assembled with f-strings: every value in them is a known-safe token (validated symbol,
interval spelling, decimal string, integer), and a connection with 100 topics at a fast clock
sends thousands of them a second. Replies echo client-chosen ids, so they go through ``json``."""

from __future__ import annotations

import json
from typing import Any

import attrs

from .intervals import WS_TYPES, Interval, interval
from .symbols import Listing, Market
from .units import CandleUnits

INVALID_COMMAND = "Command type invalid!"
INVALID_REQUEST = "Invalid request."


@attrs.frozen
class KlineTopic:
    """A parsed ``kline@SYMBOL@T`` topic the simulator can serve."""

    topic: str
    ws_type: str
    interval: Interval
    listing: Listing


def parse_topic(market: Market, topic: str) -> KlineTopic | None:
    """The topic, or None for anything the exchange silently refuses: another topic name, an
    unknown symbol (case-sensitive), or an interval the WebSocket does not offer (``1mon``,
    ``1y``: those are REST spellings)."""
    parts = topic.split("@")
    if len(parts) != 3 or parts[0] != "kline" or parts[2] not in WS_TYPES:
        return None
    listing = market.listings.get(parts[1])
    if listing is None:
        return None
    return KlineTopic(topic, parts[2], interval(parts[2]), listing)


def push(topic: KlineTopic, u: CandleUnits, send_ms: int, made_ms: int, trade_ms: int) -> str:
    """A kline push: envelope ``ts`` is the send time, ``data.ts`` when the kline state was made,
    ``data.tts`` the last trade time."""
    o, h, low, c, v, a = u.strings()
    return (
        f'{{"topic":"{topic.topic}","ts":{send_ms},"data":{{"s":"{topic.listing.model.symbol}",'
        f'"t":"{topic.ws_type}","o":"{o}","c":"{c}","h":"{h}","l":"{low}","v":"{v}","a":"{a}",'
        f'"st":{u.start_ms},"et":{u.end_ms},"ts":{made_ms},"tts":{trade_ms}}}}}'
    )


def final_push(topic: KlineTopic, u: CandleUnits, send_ms: int) -> str:
    """The closing push: ``send_ms >= et``, ``data.ts == et``, values equal to the REST row.
    ``tts`` (last trade) is a deterministic instant inside the candle, or ``st`` when it had no
    trade (the real value would be an older trade's time; nothing should rely on it)."""
    last_trade = u.start_ms if u.is_zero else u.end_ms - 1 - u.volume % 1000
    return push(topic, u, send_ms, u.end_ms, last_trade)


def provisional_push(topic: KlineTopic, u: CandleUnits, now_ms: int) -> str:
    """The forming candle as it stands at ``now_ms``."""
    state = u.provisional(now_ms)
    return push(topic, state, now_ms, now_ms, max(u.start_ms, now_ms - now_ms % 1000))


def reply(request_id: Any, cmd: str, success: bool, time_ms: int, data: Any) -> str:
    return json.dumps(
        {"id": request_id, "cmd": cmd, "success": success, "time": time_ms, "data": data},
        separators=(",", ":"),
    )


def error_reply(request_id: Any, time_ms: int, data: str) -> str:
    return reply(request_id, "ERROR", False, time_ms, data)


def pong(time_ms: int) -> str:
    return f'{{"cmd":"PONG","success":true,"time":{time_ms}}}'


def server_ping(time_ms: int) -> str:
    return f'{{"cmd":"PING","ts":{time_ms}}}'


def malformed(kind: str, valid_push: str) -> str:
    """A broken variant of ``valid_push`` (see ``faults.MALFORMED_KINDS``)."""
    if kind == "bad_json":
        return valid_push[: len(valid_push) // 2]
    if kind == "not_object":
        return '["kline",1]'
    frame = json.loads(valid_push)
    data = frame["data"]
    fields = [k for k in data if k not in ("s", "t")]
    if kind == "missing_fields":  # a kline loses its open and start; others their first two
        for key in ("o", "st") if "st" in data else fields[:2]:
            del data[key]
    elif kind == "wrong_types" and "st" in data:  # a kline: as it always was
        data["o"], data["st"], data["v"] = float(data["o"]), str(data["st"]), None
    elif kind == "wrong_types":  # numbers as floats, times as strings, one value null
        for key in fields:
            value = data[key]
            if isinstance(value, str) and value[:1].isdigit():
                data[key] = float(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                data[key] = str(value)
        data[fields[-1]] = None
    else:  # unknown_topic
        symbol = data["s"]
        frame["topic"] = frame["topic"].replace(symbol, "SPOT_NOPE_USDT")
        data["s"] = "SPOT_NOPE_USDT"
    return json.dumps(frame, separators=(",", ":"))
