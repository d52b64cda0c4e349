"""Every v3 push shape, from the documented samples (../shared/woox-api-streams.md §1), through
the two steps a connection uses: ``decode_frame`` (route by topic) then the channel's decoder;
plus malformed variants, each a MalformedFrame naming the problem."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from host_stub.spec import (
    BookEvent,
    Channel,
    FundingEvent,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    Side,
    TickerEvent,
    Trade,
)
from woox_datasource import wire

D = Decimal

BOOK: dict[str, Any] = {
    "topic": "orderbookupdate@PERP_BTC_USDT@50",
    "ts": 1790137719288,
    "data": {
        "s": "PERP_BTC_USDT",
        "prevTs": 1790137719188,
        "ts": 1790137719288,
        "bids": [],
        "asks": [["87243", "0.33231"], ["95000", "0"]],
    },
}
TOP10: dict[str, Any] = {
    "topic": "orderbook10@PERP_SOL_USDT",
    "ts": 1762308368653,
    "data": {
        "s": "PERP_SOL_USDT",
        "ts": 1762308368647,
        "bids": [["154.36", "731.000"], ["154.35", "891.000"]],
        "asks": [["154.44", "230.000"], ["154.45", "198.000"]],
    },
}
BBO: dict[str, Any] = {
    "topic": "bbo@PERP_BTC_USDT",
    "ts": 1790137719048,
    "data": {
        "s": "PERP_BTC_USDT",
        "ap": "87243",
        "aq": "0.32790",
        "bp": "86821",
        "bq": "0.35032",
        "ts": 1790137719048,
    },
}
TRADE: dict[str, Any] = {
    "topic": "trade@SPOT_ADA_USDT",
    "ts": 1618820361552,
    "data": {
        "s": "SPOT_ADA_USDT",
        "px": "1.27988",
        "sx": "300",
        "sd": "BUY",
        "src": 0,
        "rpi": False,
        "ts": 1618820361540,
    },
}
TICKER: dict[str, Any] = {
    "topic": "ticker@SPOT_WOO_USDT",
    "ts": 1614152270000,
    "data": {
        "s": "SPOT_WOO_USDT",
        "o": "0.16112",
        "c": "0.32206",
        "h": "0.33000",
        "l": "0.14251",
        "v": "89040821.98",
        "a": "22493062.21",
        "q": "89040821.98",
        "u": "22493062.21",
        "cnt": 15442,
        "ts": 1614152260000,
        "tts": 1614152250000,
    },
}
MARK: dict[str, Any] = {
    "topic": "markprice@PERP_BTC_USDT",
    "ts": 1790137719016,
    "data": {"s": "PERP_BTC_USDT", "px": "87081", "ts": 1790137719004},
}
INDEX: dict[str, Any] = {
    "topic": "indexprice@SPOT_BTC_USDT",
    "ts": 1790137719018,
    "data": {"s": "SPOT_BTC_USDT", "px": "87127", "ts": 1790137719008},
}
FUNDING: dict[str, Any] = {
    "topic": "estfundingrate@PERP_BTC_USDT",
    "ts": 1790137739007,
    "data": {"s": "PERP_BTC_USDT", "r": "0.00004326", "ft": 1790150400000, "ts": 1790137739001},
}
OPEN_INTEREST: dict[str, Any] = {"topic": "openinterest@PERP_BTC_USDT", "ts": 1618820361552,
                 "data": {"s": "PERP_BTC_USDT", "oi": "936.37", "ts": 1618820200000}}  # fmt: skip


def decoded(doc: dict[str, Any]) -> object:
    """What a channel gets: route by topic name, then the owner's decoder."""
    push = wire.decode_frame(json.dumps(doc).encode())
    assert isinstance(push, wire.Push)
    assert push.topic == doc["topic"] and push.ts == doc["ts"]
    name = push.topic.split("@")[0]
    assert wire.CHANNEL_OF_TOPIC[name] in Channel
    return wire.DECODERS[name](push)


def test_book_delta() -> None:
    update = decoded(BOOK)
    asks = ((D("87243"), D("0.33231")), (D("95000"), D("0")))
    assert update == wire.BookUpdate("PERP_BTC_USDT", 50, False, 1790137719188, 1790137719288,
                                     (), asks)  # fmt: skip
    rpi = decoded(dict(BOOK, topic="orderbookupdaterpi@PERP_BTC_USDT@500"))
    assert isinstance(rpi, wire.BookUpdate) and rpi.rpi and rpi.depth == 500


def test_top10_is_a_snapshot() -> None:
    assert decoded(TOP10) == BookEvent(
        "PERP_SOL_USDT", 10, 1762308368647, True,
        ((D("154.36"), D("731.000")), (D("154.35"), D("891.000"))),
        ((D("154.44"), D("230.000")), (D("154.45"), D("198.000"))),
    )  # fmt: skip


def test_bbo_and_its_empty_sides() -> None:
    assert decoded(BBO) == QuoteEvent("PERP_BTC_USDT", 1790137719048, D("86821"), D("0.35032"),
                                      D("87243"), D("0.32790"))  # fmt: skip
    # What an empty side looks like is UNCERTAIN: missing, null, "" and "0" all read as None.
    for empty in ({"bp": None, "bq": None}, {"bp": "", "bq": ""}, {"bp": "0", "bq": "0"}):
        quote = decoded(dict(BBO, topic="bborpi@PERP_BTC_USDT", data={**BBO["data"], **empty}))
        assert isinstance(quote, QuoteEvent)
        assert (quote.bid_price, quote.bid_size, quote.ask_price) == (None, None, D("87243"))
    data = {k: v for k, v in BBO["data"].items() if k not in ("ap", "aq")}
    one_sided = QuoteEvent("PERP_BTC_USDT", 1790137719048, D("86821"), D("0.35032"), None, None)
    assert decoded(dict(BBO, data=data)) == one_sided


def test_trade() -> None:
    assert decoded(TRADE) == Trade("SPOT_ADA_USDT", 1618820361540, D("1.27988"), D("300"),
                                   Side.BUY, external=True)  # fmt: skip
    own = decoded(dict(TRADE, data={**TRADE["data"], "src": 1, "sd": "SELL"}))
    assert isinstance(own, Trade) and not own.external and own.side is Side.SELL


def test_ticker_prices_funding_open_interest() -> None:
    assert decoded(TICKER) == TickerEvent("SPOT_WOO_USDT", 1614152260000, D("0.16112"),
                                          D("0.33000"), D("0.14251"), D("0.32206"),
                                          D("89040821.98"), D("22493062.21"), 15442)  # fmt: skip
    assert decoded(MARK) == PriceEvent(Channel.MARK_PRICE, "PERP_BTC_USDT", 1790137719004,
                                       D("87081"))  # fmt: skip
    assert decoded(INDEX) == PriceEvent(Channel.INDEX_PRICE, "SPOT_BTC_USDT", 1790137719008,
                                        D("87127"))  # fmt: skip
    assert decoded(FUNDING) == FundingEvent("PERP_BTC_USDT", 1790137739001, D("0.00004326"),
                                            1790150400000)  # fmt: skip
    negative = decoded(dict(FUNDING, data={**FUNDING["data"], "r": "-0.0001"}))
    assert isinstance(negative, FundingEvent) and negative.rate == D("-0.0001")
    assert decoded(OPEN_INTEREST) == OpenInterestEvent("PERP_BTC_USDT", 1618820200000,
                                                       D("936.37"))  # fmt: skip


def test_exact_digits_survive() -> None:
    update = decoded(BOOK)
    assert isinstance(update, wire.BookUpdate)
    assert str(update.asks[0][1]) == "0.33231"
    quote = decoded(BBO)
    assert isinstance(quote, QuoteEvent) and str(quote.ask_size) == "0.32790"


def with_data(doc: dict[str, Any], **change: Any) -> dict[str, Any]:
    return dict(doc, data={**doc["data"], **change})


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (with_data(TRADE, px="abc"), "trade push: Invalid decimal"),
        (with_data(TRADE, px="-1"), "price -1 is not a finite non-negative"),
        (with_data(TRADE, sx="NaN"), "size NaN is not a finite"),
        (with_data(TRADE, sd="buy"), "trade push: Invalid enum value 'buy'"),
        (with_data(TRADE, s="SPOT_BTC_USDT"), "is for 'SPOT_BTC_USDT', not its topic's"),
        (with_data(TRADE, ts="soon"), "Expected `int`, got `str` - at `$.ts`"),
        ({k: v for k, v in TRADE.items()} | {"data": {"s": "SPOT_ADA_USDT"}}, "missing required"),
        (with_data(BBO, ap="Infinity"), "ask price Infinity is not a finite"),
        (with_data(BBO, bp="86821", bq=None), "bid price 86821 comes without a size"),
        (with_data(BBO, bp="x", bq="1"), "bid is not a number"),
        (with_data(TICKER, cnt=-1), "trade count -1 is negative"),
        (with_data(TICKER, v="-3"), "volume -3"),
        (with_data(MARK, px=None), "Expected `decimal`, got `null`"),
        (with_data(FUNDING, r="Infinity"), "funding rate Infinity is not a finite"),
        (with_data(OPEN_INTEREST, oi="-1"), "open interest -1"),
        (with_data(BOOK, asks=[["1", "2", "3"]]), "Expected `array` of length 2"),
        (with_data(BOOK, bids=[["1", "-2"]]), "bid level [1, -2] is not two finite"),
        (with_data(BOOK, asks=[["NaN", "1"]]), "ask level [NaN, 1]"),
        (dict(BOOK, topic="orderbookupdate@PERP_BTC_USDT@20"), "no depth of 50, 200 or 500"),
        (with_data(TOP10, bids=[["1", "Infinity"]]), "bid level [1, Infinity]"),
        (dict(BOOK, data=None), "Expected `object`, got `null`"),
    ],
)
def test_malformed_payloads_name_the_problem(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(wire.MalformedFrame) as info:
        decoded(doc)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_a_decoder_refuses_another_channels_push() -> None:
    push = wire.decode_frame(json.dumps(MARK))
    assert isinstance(push, wire.Push)
    with pytest.raises(wire.MalformedFrame, match="is not trade@SYMBOL"):
        wire.decode_trade(push)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"topic": 5, "ts": 1, "data": {}}', "topic is not a string"),
        ('{"topic": "trade@X", "ts": "1", "data": {}}', "push ts is not integer ms"),
        ('{"topic": "trade@X", "ts": 1}', "push without a data object"),
        ("{", "not JSON"),
        ('{"hello": 1}', "unknown frame shape"),
    ],
)
def test_envelope_problems(frame: str, reason: str) -> None:
    with pytest.raises(wire.MalformedFrame) as info:
        wire.decode_frame(frame)
    assert reason in info.value.reason


def test_control_frames_come_out_of_the_envelope_step() -> None:
    ack = wire.decode_frame('{"id":"1","cmd":"SUBSCRIBE","success":true,"time":1,'
                            '"data":["trade@SPOT_BTC_USDT"]}')  # fmt: skip
    assert ack == wire.CommandReply("1", "SUBSCRIBE", True, ("trade@SPOT_BTC_USDT",), None)
    assert wire.decode_frame('{"cmd":"PONG","success":true,"time":7}') == wire.Pong(7)
    assert wire.decode_frame('{"cmd":"PING","ts":9}') == wire.ServerPing(9)


def test_topics_for_every_channel() -> None:
    assert wire.trade_topic("SPOT_BTC_USDT") == "trade@SPOT_BTC_USDT"
    assert wire.bbo_topic("PERP_BTC_USDT", rpi=True) == "bborpi@PERP_BTC_USDT"
    assert wire.book_topic("PERP_BTC_USDT", 200) == "orderbookupdate@PERP_BTC_USDT@200"
    assert wire.book_topic("PERP_BTC_USDT", 50, rpi=True) == "orderbookupdaterpi@PERP_BTC_USDT@50"
    with pytest.raises(ValueError, match="book depth 20 does not exist"):
        wire.book_topic("PERP_BTC_USDT", 20)
    assert wire.book10_topic("SPOT_BTC_USDT") == "orderbook10@SPOT_BTC_USDT"
    assert wire.index_price_topic("PERP_ETH_USDT") == "indexprice@SPOT_ETH_USDT"
    assert wire.index_price_topic("SPOT_ETH_USDT") == "indexprice@SPOT_ETH_USDT"
    assert wire.mark_price_topic("PERP_ETH_USDT") == "markprice@PERP_ETH_USDT"
    assert wire.funding_topic("PERP_ETH_USDT") == "estfundingrate@PERP_ETH_USDT"
    assert wire.open_interest_topic("PERP_ETH_USDT") == "openinterest@PERP_ETH_USDT"
    assert wire.ticker_topic("SPOT_WOO_USDT") == "ticker@SPOT_WOO_USDT"
    assert wire.split_topic("orderbookupdate@PERP_BTC_USDT@50") == (
        "orderbookupdate", "PERP_BTC_USDT", "50")  # fmt: skip
    assert wire.split_topic("trade@X") == ("trade", "X", None)
    assert wire.split_topic("trade") is None and wire.split_topic("a@@b") is None
    assert set(wire.DECODERS) == set(wire.CHANNEL_OF_TOPIC)
    assert set(wire.CHANNEL_OF_TOPIC.values()) == set(Channel) == set(wire.CHANNEL_INFOS)
