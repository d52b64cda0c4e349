"""How ``woox-host stream`` writes every channel's events: the same fields in table, csv and
jsonl, times one way (``--tz`` honoured), decimals with exactly the digits they carry, a stable
csv header per channel, a ``type`` on every jsonl line, numbers right-aligned, 120 columns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from host_stub import event_rows as rows
from host_stub.event_output import EventWriter, write_channels
from host_stub.output import FORMATS, format_decimal, status_line, status_record
from host_stub.spec import (
    BookEvent,
    Channel,
    ChannelInfo,
    FundingEvent,
    MarketKind,
    OpenInterestEvent,
    OrderBook,
    PriceEvent,
    QuoteEvent,
    Side,
    StatusEvent,
    StatusKind,
    StreamConfig,
    TickerEvent,
    Trade,
    TradeEvent,
)
from host_stub.times import display_zone, format_ms, parse_time_ms

T = 1_795_999_284_110  # a time with milliseconds
D = Decimal
LABELS = {60: "1m"}


def sample(channel: Channel, symbol: str = "PERP_BTC_USDT", n: int = 0) -> rows.ChannelEvent:
    """One event of ``channel``, its values varying with ``n``."""
    t = T + n * 1001
    match channel:
        case Channel.TRADES:
            side = Side.BUY if n % 2 else Side.SELL
            return TradeEvent(Trade(symbol, t, D("89933.54") + n, D("0.0000001"), side, n % 3 == 0))
        case Channel.BBO:
            return QuoteEvent(
                symbol,
                t,
                D("3127.8"),
                D("61.409"),
                None if n else D("3129.60"),
                None if n else D("107.892"),
            )
        case Channel.TICKER:
            return TickerEvent(
                symbol,
                t,
                D("89788.26"),
                D("92973.32"),
                D("87991"),
                D("89967.3"),
                D("2843.505049"),
                D("257102760.65409568"),
                90315 + n,
            )
        case Channel.MARK_PRICE | Channel.INDEX_PRICE:
            return PriceEvent(channel, symbol, t, D("89963.6") + n)
        case Channel.FUNDING:
            return FundingEvent(symbol, t, D("-0.00001234"), 1_796_025_600_000)
        case Channel.OPEN_INTEREST:
            return OpenInterestEvent(symbol, t, D("5937.037"))
        case Channel.BOOK:
            bids = ((D("89900.1"), D("0.5")), (D("89899"), D("1.25")))
            return BookEvent(symbol, 50, t, n == 0, bids, ((D("89901.20"), D("0")),))
    raise AssertionError(channel)


NOT_CANDLES = [c for c in Channel if c is not Channel.CANDLES]


def config(channel: Channel, symbol: str = "PERP_BTC_USDT") -> StreamConfig:
    return StreamConfig(symbol, 60 if channel is Channel.CANDLES else None, channel=channel)


def written(
    channel: Channel,
    fmt: str,
    events: Sequence[rows.ChannelEvent | StatusEvent],
    symbols: Sequence[str] = ("PERP_BTC_USDT",),
) -> str:
    out = io.StringIO()
    writer = EventWriter(out, fmt, [config(channel, s) for s in symbols], LABELS)
    for event in events:
        writer.write_event(event)
    writer.finish()
    return out.getvalue()


def test_every_event_type_has_one_layout_whose_fields_match_its_values() -> None:
    for channel in NOT_CANDLES:
        layout = rows.LAYOUTS[channel]
        event = sample(channel)
        if isinstance(event, BookEvent):
            values = rows.book_values(event, 1)
            assert len(values) == len(event.bids) + len(event.asks)
        else:
            values = [rows.event_values(event)]
        assert layout.fields[0] == "symbol" and "time" in layout.fields
        assert all(len(v) == len(layout.fields) for v in values), channel
        assert layout.numbers <= set(layout.fields) and layout.times <= set(layout.fields)


@pytest.mark.parametrize("channel", NOT_CANDLES)
def test_csv_has_the_channels_header_and_reads_back_to_the_same_values(channel: Channel) -> None:
    events = [sample(channel, n=n) for n in range(3)]
    table = list(csv.reader(io.StringIO(written(channel, "csv", events))))
    header, *body = table
    assert tuple(header) == rows.LAYOUTS[channel].fields
    expected = (
        [v for n, e in enumerate(events, 1) for v in rows.book_values(e, n)]  # type: ignore[arg-type]
        if channel is Channel.BOOK
        else [rows.event_values(e) for e in events]
    )
    assert len(body) == len(expected)
    layout = rows.LAYOUTS[channel]
    for line, values in zip(body, expected, strict=True):
        for name, text, value in zip(layout.fields, line, values, strict=True):
            if value is None:
                assert text == ""
            elif name in layout.times:
                assert parse_time_ms(text, now_ms=0) == value
            elif isinstance(value, bool):
                assert text == ("true" if value else "false")
            elif isinstance(value, Decimal):
                assert text == format(value, "f") and Decimal(text) == value
            else:
                assert text == str(value)


@pytest.mark.parametrize("channel", NOT_CANDLES)
def test_an_empty_csv_still_has_its_header(channel: Channel) -> None:
    assert written(channel, "csv", []).splitlines() == [",".join(rows.LAYOUTS[channel].fields)]


@pytest.mark.parametrize("channel", NOT_CANDLES)
def test_jsonl_lines_are_objects_with_a_type_and_typed_values(channel: Channel) -> None:
    status = StatusEvent(StatusKind.CONNECTED, "PERP_BTC_USDT", channel=channel)
    events = [status, sample(channel, n=0), sample(channel, n=1)]
    lines = [json.loads(line) for line in written(channel, "jsonl", events).splitlines()]
    kind = rows.LAYOUTS[channel].type
    assert [line["type"] for line in lines] == ["status", kind, kind]
    assert lines[0]["channel"] == channel.value and lines[0]["interval"] is None
    for line, event in zip(lines[1:], events[1:], strict=True):
        assert line == rows.event_record(event)  # type: ignore[arg-type]
        assert line["time"] == format_ms(T if line is lines[1] else T + 1001)
        for key, value in line.items():
            assert not isinstance(value, float), (key, value)  # decimals stay text


def test_jsonl_keeps_types_a_program_can_use() -> None:
    trade = json.loads(written(Channel.TRADES, "jsonl", [sample(Channel.TRADES)]))
    assert trade == {
        "type": "trade",
        "symbol": "PERP_BTC_USDT",
        "time": format_ms(T),
        "price": "89933.54",
        "size": "0.0000001",
        "side": "sell",
        "external": True,
    }
    quote = json.loads(written(Channel.BBO, "jsonl", [sample(Channel.BBO, n=1)]))
    assert quote["ask_price"] is None and quote["bid_price"] == "3127.8"
    ticker = json.loads(written(Channel.TICKER, "jsonl", [sample(Channel.TICKER)]))
    assert ticker["trades"] == 90315 and ticker["quote_volume"] == "257102760.65409568"
    mark = json.loads(written(Channel.MARK_PRICE, "jsonl", [sample(Channel.MARK_PRICE)]))
    assert list(mark)[:2] == ["type", "channel"] and mark["channel"] == "mark_price"
    funding = json.loads(written(Channel.FUNDING, "jsonl", [sample(Channel.FUNDING)]))
    assert funding["next_funding_time"] == format_ms(1_796_025_600_000)
    book = json.loads(written(Channel.BOOK, "jsonl", [sample(Channel.BOOK)]))
    assert book["bids"] == [["89900.1", "0.5"], ["89899", "1.25"]]
    assert book["asks"] == [["89901.20", "0"]] and book["snapshot"] is True


@given(
    st.integers(0, 10**12),
    st.text("0123456789", min_size=0, max_size=12),
    st.booleans(),
)
@example(0, "0000001", False)  # str() would write 1E-7
@example(0, "0000000", False)  # and 0E-7
def test_decimals_keep_exactly_their_digits_in_plain_notation(
    whole: int, fraction: str, negative: bool
) -> None:
    text = ("-" if negative else "") + str(whole) + (f".{fraction}" if fraction else "")
    assert format_decimal(Decimal(text)) == text


def test_a_tiny_decimal_is_not_written_in_scientific_notation() -> None:
    assert str(Decimal("0.0000001")) == "1E-7"  # what str() would have written
    assert format_decimal(Decimal("0.0000001")) == "0.0000001"
    assert format_decimal(None) == ""


@pytest.mark.parametrize("fmt", FORMATS)
def test_times_follow_tz_in_every_format(fmt: str) -> None:
    with display_zone(ZoneInfo("Europe/Berlin")):
        text = written(Channel.FUNDING, fmt, [sample(Channel.FUNDING)])
        berlin = format_ms(T)
    with display_zone(UTC):
        utc = format_ms(T)
    assert berlin.endswith("+01:00") and berlin in text and utc not in text
    assert format_ms(1_796_025_600_000) not in text  # next_funding_time in the zone too


def _right_aligned(lines: list[str], header: str, column: str) -> bool:
    """Every value of ``column`` ends where its header ends."""
    end = header.index(column) + len(column)
    return all(line[end - 1] != " " and line[end : end + 1] in ("", " ") for line in lines)


@pytest.mark.parametrize("channel", NOT_CANDLES)
def test_the_table_names_one_symbol_in_its_title_and_right_aligns_numbers(
    channel: Channel,
) -> None:
    events = [sample(channel, n=n) for n in range(3)]
    title, header, *body = written(channel, "table", events).splitlines()
    variant = " 50" if channel is Channel.BOOK else ""
    assert title == f"PERP_BTC_USDT {channel.value}{variant} (times UTC)"
    layout = rows.LAYOUTS[channel]
    assert header.split() == list(layout.fields[1:])
    for name in layout.numbers:
        filled = [line for line in body if len(line.split()) == len(layout.fields) - 1]
        assert _right_aligned(filled, header, name), (name, body)
    assert max(map(len, [title, header, *body])) <= 120


@pytest.mark.parametrize("channel", NOT_CANDLES)
def test_several_symbols_get_a_symbol_column_and_fit_120_columns(channel: Channel) -> None:
    symbols = ("PERP_1000SHIB_USDT", "SPOT_BTC_USDT")
    events = [sample(channel, s, n) for n in range(2) for s in symbols]
    title, header, *body = written(channel, "table", events, symbols).splitlines()
    assert title.startswith(channel.value) and header.split()[0] == "symbol"
    assert {line.split()[0] for line in body} == set(symbols)
    assert max(map(len, [title, header, *body])) <= 120


def test_a_flag_reads_as_its_name_in_the_table() -> None:
    *_, body0, body1 = written(
        Channel.TRADES, "table", [sample(Channel.TRADES, n=n) for n in range(2)]
    ).splitlines()
    assert body0.endswith("sell external") and body1.endswith("buy")


def test_book_csv_rows_rebuild_the_same_book() -> None:
    """Book events as csv rows lose nothing: grouped by ``update``, they rebuild the book the
    events build."""
    bid, ask = (D("99.5"), D("2")), (D("100.5"), D("3"))
    events = [
        BookEvent("SPOT_BTC_USDT", 50, T, True, (bid, (D("99"), D("1"))), (ask,)),
        BookEvent("SPOT_BTC_USDT", 50, T, False, ((D("99"), D("0")),), ((D("101"), D("4")),)),
        BookEvent("SPOT_BTC_USDT", 50, T + 1, True, (), ()),  # an empty book: one blank row
        BookEvent("SPOT_BTC_USDT", 50, T + 2, True, (bid,), ()),
    ]
    direct, rebuilt = OrderBook(), OrderBook()
    for event in events:
        direct.apply(event)
    body = list(csv.DictReader(io.StringIO(written(Channel.BOOK, "csv", events))))
    assert [int(r["update"]) for r in body] == [1, 1, 1, 2, 2, 3, 4]
    for update in sorted({int(r["update"]) for r in body}):
        group = [r for r in body if int(r["update"]) == update]
        levels = {
            side: tuple((D(r["price"]), D(r["size"])) for r in group if r["side"] == side)
            for side in ("bid", "ask")
        }
        first = group[0]
        rebuilt.apply(
            BookEvent(
                first["symbol"],
                int(first["depth"]),
                parse_time_ms(first["time"], now_ms=0),
                first["snapshot"] == "true",
                levels["bid"],
                levels["ask"],
            )
        )
        if update == 2:
            assert (rebuilt.bids, rebuilt.asks) == ((bid,), (ask, (D("101"), D("4"))))
    assert (rebuilt.bids, rebuilt.asks, rebuilt.time) == (direct.bids, direct.asks, direct.time)


def test_status_lines_name_the_channel_and_count_its_own_things() -> None:
    gap = StatusEvent(
        StatusKind.GAP_UNFILLABLE,
        "SPOT_BTC_USDT",
        None,
        "REST reaches back 1h",
        T,
        T + 60_000,
        1,
        channel=Channel.TRADES,
    )
    assert status_line(gap, "") == (
        f"[gap_unfillable] SPOT_BTC_USDT trades [{format_ms(T)}, {format_ms(T + 60_000)}) "
        "1 trade: REST reaches back 1h"
    )
    filled = StatusEvent(StatusKind.GAP_FILLED, "SPOT_BTC_USDT", 60, "", T, T + 120_000, 2)
    assert status_line(filled, "1m").endswith(" 2 candles")
    record = status_record(gap, "")
    assert (record["type"], record["channel"], record["interval"]) == ("status", "trades", None)
    assert status_record(filled, "1m")["interval"] == "1m"


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_status_events_stay_off_csv_and_the_table(fmt: str) -> None:
    status = StatusEvent(StatusKind.STALE, "PERP_BTC_USDT", channel=Channel.OPEN_INTEREST)
    text = written(Channel.OPEN_INTEREST, fmt, [status, sample(Channel.OPEN_INTEREST), status])
    assert "stale" not in text and len(text.splitlines()) == (2 if fmt == "csv" else 3)


def test_channels_are_listed_in_every_format() -> None:
    infos = (
        ChannelInfo(Channel.CANDLES, (MarketKind.SPOT, MarketKind.PERP), backfill=True),
        ChannelInfo(Channel.BOOK, (MarketKind.SPOT, MarketKind.PERP), (50, 200, 500), rpi=True),
        ChannelInfo(Channel.FUNDING, (MarketKind.PERP,)),
    )
    out = {fmt: io.StringIO() for fmt in FORMATS}
    for fmt, target in out.items():
        write_channels(target, infos, fmt)
    table = out["table"].getvalue().splitlines()
    assert table[0].split() == ["channel", "kinds", "depths", "backfill", "rpi"]
    assert table[2].split() == ["book", "spot,perp", "50,200,500", "no", "yes"]
    assert table[3].split() == ["funding", "perp", "no", "no"]
    assert list(csv.reader(io.StringIO(out["csv"].getvalue())))[1] == [
        "candles",
        "spot,perp",
        "",
        "true",
        "false",
    ]
    jsonl = [json.loads(line) for line in out["jsonl"].getvalue().splitlines()]
    assert jsonl[1] == {
        "channel": "book",
        "kinds": ["spot", "perp"],
        "depths": [50, 200, 500],
        "backfill": False,
        "rpi": True,
    }


def test_ladder_rows_put_the_sides_side_by_side_best_first() -> None:
    book = OrderBook()
    book.apply(
        BookEvent(
            "SPOT_BTC_USDT",
            50,
            T,
            True,
            ((D("99"), D("1")), (D("99.5"), D("2"))),
            ((D("100.50"), D("3")),),
        )
    )
    assert rows.ladder_rows(book, 5) == [("2", "99.5", "100.50", "3"), ("1", "99", "", "")]
    assert rows.ladder_rows(book, 1) == [("2", "99.5", "100.50", "3")]
