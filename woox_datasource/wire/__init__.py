"""Everything WOO X spells: base URLs, endpoint paths, query and field names, topics, frames.

Parse and encode only, no I/O. Keeping every exchange spelling in this package means a WOO X API
change is an edit here and nowhere else, and the simulator (which encodes the same messages on
its own, never importing this) can catch a misreading of the documentation. Import from
``woox_datasource.wire``; the private modules are only the package's internal layout:

* ``_http``: base URLs, paths, symbols, query building, the reply envelope and its errors;
* ``_candles``: exact decimals, klineHistory rows and instrument rows;
* ``_ws``: the v3 public WebSocket (topics, command frames, frame parsing).
"""

from woox_datasource.wire._candles import (
    DecimalCache,
    build_candles,
    checked_candle,
    parse_instruments,
    parse_kline_rows,
    to_decimal,
)
from woox_datasource.wire._http import (
    INSTRUMENTS_PATH,
    JSON_BACKEND,
    KLINE_HISTORY_PATH,
    LATEST_KLINE_PATH,
    MAX_KLINE_LIMIT,
    REST_URLS,
    SYSTEM_INFO_PATH,
    WS_URLS,
    Reply,
    WooInvalidRequest,
    WooUnknownSymbol,
    kline_history_query,
    latest_kline_query,
    loads,
    market_parts,
    normalize_symbol,
    parse_envelope,
    parse_reply,
    rows_of,
)
from woox_datasource.wire._topics import (
    CHANNEL_INFOS,
    CHANNEL_OF_TOPIC,
    bbo_topic,
    book10_topic,
    book_topic,
    funding_topic,
    index_price_topic,
    index_symbol,
    mark_price_topic,
    open_interest_topic,
    split_topic,
    ticker_topic,
    trade_topic,
)
from woox_datasource.wire._ws import (
    MAX_TOPICS_PER_CONNECTION,
    MAX_TOPICS_PER_SUBSCRIBE,
    CommandReply,
    KlinePush,
    MalformedFrame,
    Pong,
    ServerPing,
    WsFrame,
    kline_topic,
    parse_kline_topic,
    parse_ws_frame,
    ping_frame,
    pong_frame,
    subscribe_frame,
    unsubscribe_frame,
)

__all__ = [
    "CHANNEL_INFOS",
    "CHANNEL_OF_TOPIC",
    "INSTRUMENTS_PATH",
    "JSON_BACKEND",
    "KLINE_HISTORY_PATH",
    "LATEST_KLINE_PATH",
    "MAX_KLINE_LIMIT",
    "MAX_TOPICS_PER_CONNECTION",
    "MAX_TOPICS_PER_SUBSCRIBE",
    "REST_URLS",
    "SYSTEM_INFO_PATH",
    "WS_URLS",
    "CommandReply",
    "DecimalCache",
    "KlinePush",
    "MalformedFrame",
    "Pong",
    "Reply",
    "ServerPing",
    "WooInvalidRequest",
    "WooUnknownSymbol",
    "WsFrame",
    "bbo_topic",
    "book10_topic",
    "book_topic",
    "build_candles",
    "checked_candle",
    "funding_topic",
    "index_price_topic",
    "index_symbol",
    "kline_history_query",
    "kline_topic",
    "latest_kline_query",
    "loads",
    "mark_price_topic",
    "market_parts",
    "normalize_symbol",
    "open_interest_topic",
    "parse_envelope",
    "parse_instruments",
    "parse_kline_rows",
    "parse_kline_topic",
    "parse_reply",
    "parse_ws_frame",
    "ping_frame",
    "pong_frame",
    "rows_of",
    "split_topic",
    "subscribe_frame",
    "ticker_topic",
    "to_decimal",
    "trade_topic",
    "unsubscribe_frame",
]

# --- added by stream helper ---
from woox_datasource.wire._ws import parse_stream_frame

__all__ += ["parse_stream_frame"]
