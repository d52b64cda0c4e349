"""WOO X over HTTP: base URLs, endpoint paths, symbols, queries and the reply envelope."""

from __future__ import annotations

import re
from typing import Any, Final

import attrs
import msgspec

from host_stub.spec import ExchangeError, InvalidRequest, MarketKind, RateLimited, UnknownSymbol

loads: Final = msgspec.json.decode
"""Untyped JSON decoding (into dicts and lists), for the careful paths that explain bad input.
The hot paths decode straight into typed Structs instead (see ``_ws`` and ``_candles``)."""
JSON_BACKEND: Final = "msgspec"

# ---------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------

REST_URLS: Final = {"production": "https://api.woox.io", "staging": "https://api.staging.woox.io"}
WS_URLS: Final = {
    "production": "wss://wss.woox.io/v3/public",
    "staging": "wss://wss.staging.woox.io/v3/public",
}
KLINE_HISTORY_PATH: Final = "/v3/public/klineHistory"
INSTRUMENTS_PATH: Final = "/v3/public/instruments"
LATEST_KLINE_PATH: Final = "/v3/public/kline"
SYSTEM_INFO_PATH: Final = "/v3/public/systemInfo"
ORDERBOOK_PATH: Final = "/v3/public/orderbook"
MARKET_TRADES_PATH: Final = "/v3/public/marketTrades"
MARKET_TRADES_HISTORY_PATH: Final = "/v3/public/marketTradesHistory"
FUTURES_PATH: Final = "/v3/public/futures"
FUNDING_RATE_PATH: Final = "/v3/public/fundingRate"
FUNDING_RATE_HISTORY_PATH: Final = "/v3/public/fundingRateHistory"
MAX_KLINE_LIMIT: Final = 1000
"""klineHistory's documented maximum ``limit``."""

# ---------------------------------------------------------------------------------------------
# Symbols and queries
# ---------------------------------------------------------------------------------------------

_SYMBOL_RE = re.compile(r"(SPOT|PERP)_([A-Z0-9]+)_([A-Z0-9]+)")
_SYMBOL_HELP = (
    "expected SPOT_<BASE>_<QUOTE> or PERP_<BASE>_<QUOTE>, e.g. SPOT_BTC_USDT or PERP_ETH_USDT "
    "(BTC_USDT without the SPOT_ prefix is not a WOO X symbol, and BTC/USDT is ccxt's spelling)"
)


def normalize_symbol(symbol: object) -> str:
    """Upper-case and check a WOO X symbol; :class:`InvalidRequest` explains the format."""
    if not isinstance(symbol, str):
        raise InvalidRequest(f"symbol must be a string, got {symbol!r}; {_SYMBOL_HELP}")
    text = symbol.strip().upper()
    if _SYMBOL_RE.fullmatch(text):
        return text
    raise InvalidRequest(f"invalid symbol {symbol!r}: {_SYMBOL_HELP}{_symbol_hint(text)}")


def _symbol_hint(text: str) -> str:
    """A suggestion only where one reading is obvious: ``BTC/USDT`` or ``spot-btc-usdt``, never
    for a list such as ``BTC_USDT,ETH_USDT``."""
    swap = re.fullmatch(r"([A-Z0-9]+)/([A-Z0-9]+):[A-Z0-9]+", text)  # ccxt's perpetual spelling
    if swap:
        return f" (did you mean PERP_{swap.group(1)}_{swap.group(2)}?)"
    parts = re.split(r"[/_:\-]", text)
    if not all(p.isalnum() for p in parts):
        return " (one symbol at a time)" if re.search(r"[,;]", text) else ""
    if len(parts) == 3 and parts[0] in ("SPOT", "PERP"):
        return f" (did you mean {'_'.join(parts)}?)"
    if len(parts) == 2:
        return f" (did you mean SPOT_{parts[0]}_{parts[1]} or PERP_{parts[0]}_{parts[1]}?)"
    return ""


def market_parts(symbol: str) -> tuple[MarketKind, str, str] | None:
    m = _SYMBOL_RE.fullmatch(symbol)
    if m is None:
        return None
    kind = MarketKind.SPOT if m.group(1) == "SPOT" else MarketKind.PERP
    return kind, m.group(2), m.group(3)


def kline_history_query(
    symbol: str, rest_type: str, *, before: int | None, limit: int
) -> dict[str, str]:
    """Query for one klineHistory page: candles starting strictly before ``before`` (newest when
    None). Only the ``before`` cursor is ever sent: WOO X lets ``before`` win over ``after``, so a
    request carrying both silently ignores one of them."""
    if not 1 <= limit <= MAX_KLINE_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_KLINE_LIMIT}, got {limit}")
    query = {"symbol": symbol, "type": rest_type, "limit": str(limit)}
    if before is not None:
        query["before"] = str(before)
    return query


def latest_kline_query(symbol: str, rest_type: str, *, limit: int) -> dict[str, str]:
    """Query for ``/v3/public/kline`` (the newest ``limit`` candles)."""
    if not 1 <= limit <= MAX_KLINE_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_KLINE_LIMIT}, got {limit}")
    return {"symbol": symbol, "type": rest_type, "limit": str(limit)}


# ---------------------------------------------------------------------------------------------
# Envelope and errors
# ---------------------------------------------------------------------------------------------


class WooInvalidRequest(InvalidRequest):
    """WOO X refused the request as malformed; carries the exchange's code/status/message."""

    def __init__(self, message: str, *, code: int | None, status: int | None) -> None:
        self.code, self.status, self.message = code, status, message
        detail = ", ".join(f"{k} {v}" for k, v in (("code", code), ("HTTP", status)) if v)
        super().__init__(f"WOO X rejected the request: {message}" + (f" ({detail})" * bool(detail)))


class WooUnknownSymbol(UnknownSymbol):
    """WOO X answered ``invalid symbol ...``; carries the exchange's code/status/message."""

    def __init__(self, symbol: str, message: str, *, code: int | None, status: int | None) -> None:
        self.code, self.status, self.message = code, status, message
        super().__init__(symbol, f"WOO X says {message!r}")


_RATE_LIMIT_CODE = -1003
_INVALID_PARAM_CODES = frozenset({-1004, -1005})
_UNKNOWN_CODE = -1000
_INVALID_SYMBOL_RE = re.compile(r"invalid symbol\s*(\S*)", re.IGNORECASE)


def excerpt(body: bytes | str | msgspec.Raw, size: int = 120) -> str:
    """The start of some JSON text, quoted, for an error message."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    text = raw[:size].decode("utf-8", "replace")
    return repr(text) + ("..." if len(raw) > size else "")


@attrs.frozen
class Reply:
    """A successful reply: its ``data`` still as JSON text (:class:`msgspec.Raw`: each endpoint's
    parser decodes it straight into its own typed rows), and ``timestamp``, ms, when the
    exchange said (its clock when it answered; for the order book, the book's last change)."""

    data: msgspec.Raw
    timestamp: int | None


class _Envelope(msgspec.Struct, gc=False):
    """Every WOO X reply's outer shape; ``data`` is left undecoded."""

    success: bool
    data: msgspec.Raw = msgspec.Raw()
    timestamp: int | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)


def parse_envelope(status: int, body: bytes) -> Any:
    """The ``data`` of a successful WOO X reply as plain JSON values, or the matching typed error
    (see parse_reply)."""
    return loads(parse_reply(status, body).data)


def parse_reply(status: int, body: bytes) -> Reply:
    """Parse a WOO X reply, or raise the matching typed error.

    Checks ``success`` itself rather than the HTTP status: WOO X's gateway answers unknown
    routes with HTTP 200 and no ``success`` at all, and unknown symbols come back as 400 or 500.
    """
    if status < 400:
        try:
            envelope = _ENVELOPE.decode(body)
        except msgspec.DecodeError:
            pass  # not the usual shape: the careful path below names what it is
        else:
            if envelope.success and envelope.data:
                return Reply(envelope.data, envelope.timestamp)
    try:
        doc = loads(body)
    except msgspec.DecodeError:
        doc = None
    if not isinstance(doc, dict):
        what = "a non-JSON" if doc is None else "a non-object JSON"
        message = f"WOO X sent {what} body: {excerpt(body)}"
        if status == 429:
            raise RateLimited(message, status=status)
        retryable = status >= 500 or status == 408 or 200 <= status < 300
        raise ExchangeError(message, status=status, retryable=retryable)
    success = doc.get("success")
    if success is True and status < 400:
        if "data" not in doc:
            raise ExchangeError("WOO X reply has success but no data", status=status)
        timestamp = doc.get("timestamp")
        data = msgspec.json.encode(doc["data"])  # (unusual shape only: e.g. a float timestamp)
        return Reply(msgspec.Raw(data), timestamp if type(timestamp) is int else None)
    code = doc.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = next(
        (str(doc[k]) for k in ("message", "errorMsg", "data") if isinstance(doc.get(k), str)),
        "no error message",
    )
    if success is None:  # the gateway's own shape: {"code":503,"message":"[GW] no upstream server"}
        raise ExchangeError(f"WOO X gateway error: {message}", code=code, status=status,
                            retryable=True)  # fmt: skip
    if code == _RATE_LIMIT_CODE or status == 429:
        raise RateLimited(message, code=code, status=status)
    symbol_match = _INVALID_SYMBOL_RE.match(message)
    if symbol_match:
        raise WooUnknownSymbol(symbol_match.group(1), message, code=code, status=status)
    if code == _UNKNOWN_CODE or status >= 500 or status == 408:
        raise ExchangeError(message, code=code, status=status, retryable=True)
    if code in _INVALID_PARAM_CODES or status == 400:
        raise WooInvalidRequest(message, code=code, status=status)
    raise ExchangeError(message, code=code, status=status, retryable=False)


def rows_of(data: Any, what: str) -> list[Any]:
    """The ``rows`` list of a reply's ``data`` (klineHistory, kline, instruments)."""
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ExchangeError(f"WOO X {what} reply has no rows list: {str(data)[:120]!r}")
    return rows
