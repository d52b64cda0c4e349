"""REST replies beyond candles (../shared/woox-api-streams.md §2.1, §3; woox-api.md §3), parsed
through ``parse_reply`` as the REST client does, plus malformed variants."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from host_stub.spec import BookEvent, ExchangeError, RateLimited, Side, Trade
from woox_datasource import wire

D = Decimal


def reply(data: Any, timestamp: int | None = 1751620923344, status: int = 200) -> wire.Reply:
    doc: dict[str, Any] = {"success": True, "data": data}
    if timestamp is not None:
        doc["timestamp"] = timestamp
    return wire.parse_reply(status, json.dumps(doc).encode())


BOOK = {"asks": [{"price": "108924.86", "quantity": "0.032126"}],
        "bids": [{"price": "108924.85", "quantity": "1.714147"},
                 {"price": "108924.8", "quantity": "0.00020"}]}  # fmt: skip


def test_orderbook_snapshot_is_a_book_event_at_the_books_last_change() -> None:
    event = wire.parse_orderbook(reply(BOOK), "SPOT_BTC_USDT", 50)
    assert event == BookEvent(
        "SPOT_BTC_USDT", 50, 1751620923344, True,
        ((D("108924.85"), D("1.714147")), (D("108924.8"), D("0.0002"))),
        ((D("108924.86"), D("0.032126")),),
    )  # fmt: skip
    assert str(event.bids[1][1]) == "0.00020"
    assert wire.orderbook_query("SPOT_BTC_USDT", 50, rpi=True) == {
        "symbol": "SPOT_BTC_USDT", "maxLevel": "50", "rpi": "true"}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "timestamp", "problem"),
    [
        (BOOK, None, "no timestamp"),
        ({"asks": [], "bids": [["1", "2"]]}, 1, "Expected `object`, got `array`"),
        ({"asks": [{"price": "1", "quantity": "-2"}], "bids": []}, 1, "ask level [1, -2]"),
        ({"asks": [], "bids": [{"price": "NaN", "quantity": "1"}]}, 1, "bid level [NaN, 1]"),
        ({"asks": []}, 1, "missing required field `bids`"),
    ],
)
def test_bad_orderbook_replies(data: Any, timestamp: int | None, problem: str) -> None:
    with pytest.raises(ExchangeError) as info:
        wire.parse_orderbook(reply(data, timestamp), "SPOT_BTC_USDT", 50)
    assert problem in str(info.value)


TRADE_ROW = {"symbol": "SPOT_BTC_USDT", "side": "SELL", "source": 1,
             "executedPrice": "108924.85", "executedQuantity": "0.001000",
             "executedTimestamp": 1751620923344}  # fmt: skip


def test_market_trades() -> None:
    legacy = dict(TRADE_ROW, executedTimestamp="1567411795.000", source=0, side="BUY")
    got = wire.parse_market_trades(reply({"rows": [TRADE_ROW, legacy]}).data, "SPOT_BTC_USDT")
    assert got == [
        Trade("SPOT_BTC_USDT", 1751620923344, D("108924.85"), D("0.001000"), Side.SELL, False),
        Trade("SPOT_BTC_USDT", 1567411795000, D("108924.85"), D("0.001000"), Side.BUY, True),
    ]
    assert wire.market_trades_query("SPOT_BTC_USDT", limit=500) == {
        "symbol": "SPOT_BTC_USDT", "limit": "500"}  # fmt: skip
    assert wire.market_trades_history_query("X", start=1, end=2) == {
        "symbol": "X", "startTime": "1", "endTime": "2"}  # fmt: skip
    # the page size's name is UNCERTAIN: both readings get it
    assert wire.market_trades_history_query("X", start=1, end=2, limit=500) == {
        "symbol": "X", "startTime": "1", "endTime": "2", "limit": "500", "size": "500"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"side": "HOLD"}, "side 'HOLD'"),
        ({"symbol": "SPOT_ETH_USDT"}, "symbol 'SPOT_ETH_USDT'"),
        ({"executedPrice": "-1"}, "price -1 is not a finite"),
        ({"executedQuantity": None}, "Expected `decimal`, got `null`"),
        ({"executedTimestamp": None}, "executedTimestamp"),
    ],
)
def test_bad_trade_rows(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ExchangeError) as info:
        wire.parse_market_trades(reply({"rows": [dict(TRADE_ROW, **change)]}).data,
                                 "SPOT_BTC_USDT")  # fmt: skip
    assert problem in str(info.value)


FUTURES_ROW = {"symbol": "PERP_BTC_USDT", "indexPrice": "108900.1", "markPrice": "108910.2",
               "estFundingRate": "-0.00001", "lastFundingRate": "0.0001",
               "openInterest": "1234.5", "24hOpen": "107000", "24hClose": "108910",
               "24hHigh": "109500", "24hLow": "106800", "24hVolume": "5012.3",
               "24hAmount": "545000000.12", "nextFundingTime": 1751644800000}  # fmt: skip


def test_futures_rows_with_readable_names() -> None:
    (row, unlisted) = wire.parse_futures(
        reply({"rows": [FUTURES_ROW, {"symbol": "PERP_X_USDT", "markPrice": "1",
                                      "indexPrice": None}]}).data)  # fmt: skip
    assert (row.mark_price, row.index_price, row.est_funding_rate) == (
        D("108910.2"), D("108900.1"), D("-0.00001"))  # fmt: skip
    assert (row.open, row.amount, row.next_funding_time) == (D("107000"), D("545000000.12"),
                                                             1751644800000)  # fmt: skip
    assert unlisted.index_price is None and unlisted.open_interest is None
    with pytest.raises(ExchangeError, match="open_interest -1 is not a finite"):
        wire.parse_futures(reply({"rows": [dict(FUTURES_ROW, openInterest="-1")]}).data)
    assert wire.symbol_query(None) == {}


def test_funding_rate_and_its_history() -> None:
    (rate,) = wire.parse_funding_rate(reply({"rows": [{
        "symbol": "PERP_BTC_USDT", "estFundingRate": "0.00004326",
        "estFundingRateTimestamp": 1790137739001, "lastFundingRate": "-0.0001",
        "lastFundingRateTimestamp": 1790121600000, "nextFundingTime": 1790150400000,
        "lastFundingIntervalHours": 8, "estFundingIntervalHours": 8}]}).data)  # fmt: skip
    assert (rate.est_funding_rate, rate.last_funding_rate) == (D("0.00004326"), D("-0.0001"))
    assert rate.est_funding_interval_hours == 8
    page = wire.parse_funding_rate_history(reply({
        "rows": [{"symbol": "PERP_BTC_USDT", "fundingRate": "0.0001",
                  "fundingRateTimestamp": 1790121600000, "nextFundingTime": 1790150400000,
                  "markPrice": "108000"}],
        "meta": {"total": 13027, "recordsPerPage": 25, "currentPage": 1}}).data)  # fmt: skip
    assert page.meta == wire.PageMeta(13027, 25, 1)
    assert page.rows[0].next_funding_time == 1790150400000
    with pytest.raises(ExchangeError, match="rate NaN"):
        wire.parse_funding_rate_history(reply({"rows": [{
            "symbol": "P", "fundingRate": "NaN", "fundingRateTimestamp": 1,
            "nextFundingTime": 2}]}).data)  # fmt: skip
    assert wire.funding_rate_history_query("P", start=1, end=2) == {
        "symbol": "P", "startTime": "1", "endTime": "2", "page": "1"}  # fmt: skip


def test_system_info() -> None:
    assert wire.parse_system_info(reply({"status": 2, "msg": "System maintenance"}).data) == (
        wire.SystemInfo(2, "System maintenance"))  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (400, b'{"success":false,"message":"invalid symbol PERP_NOPE_USDT"}', wire.WooUnknownSymbol,
         "invalid symbol"),
        (500, b'{"success":false,"message":"invalid symbol PERP_NOPE_USDT"}', wire.WooUnknownSymbol,
         "PERP_NOPE_USDT"),
        (400, b'{"success":false,"code":-1005,"error_code":90000,"message":"invalid request, '
         b'please check your request"}', wire.WooInvalidRequest, "invalid request"),
        (500, b'{"success":false,"code":-1000,"message":"The server encountered an internal '
         b'error"}', ExchangeError, "internal error"),
        (200, b'{"code":503,"message":"[GW] no upstream server"}', ExchangeError, "[GW]"),
        (429, b'{"success":false,"code":-1003,"message":"Rate limit exceed."}', RateLimited,
         "Rate limit"),
        (500, b'{"success":false,"message":"no funding rate data for SPOT_BTC_USDT"}',
         ExchangeError, "no funding rate data"),
    ],
)  # fmt: skip
def test_error_envelopes(status: int, body: bytes, kind: type[Exception], text: str) -> None:
    with pytest.raises(kind, match=text.replace("[", r"\[")):
        wire.parse_reply(status, body)
