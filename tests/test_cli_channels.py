"""``woox-host stream --channel`` and ``woox-host channels`` as a user runs them: real processes
against the simulator. What the plugin declares is listed; what the contract or the plugin
refuses is one line, exit 2, in their words with the option the user typed; several symbols are
one command."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
from collections.abc import Callable, Sequence

import pytest
from _cli_helpers import interrupt_once_written, one_line, simulator, woox_host

from host_stub.cli import main
from host_stub.spec import Channel, InvalidRequest, StreamConfig
from host_stub.times import parse_time_ms
from woox_datasource.plugin import WooXDatasource
from woox_datasource.simulator import WooXSimulator


def contract_says(build: Callable[[], object]) -> str:
    """The contract's own message for a config it refuses."""
    with pytest.raises(InvalidRequest) as refused:
        build()
    return str(refused.value)


def exit_code(argv: list[str]) -> int:
    """``woox-host argv`` in this process (argparse's refusals exit)."""
    try:
        return main(argv, out=io.StringIO())
    except SystemExit as exited:
        return int(exited.code or 0)


async def test_channels_lists_what_the_plugin_declares() -> None:
    declared = WooXDatasource().datasource_info().channels
    ran = await woox_host("channels", "--format", "jsonl", within=30)
    assert ran.code == 0, ran.err
    listed = [json.loads(line) for line in ran.out.splitlines()]
    assert listed == [
        {
            "channel": info.channel.value,
            "kinds": [kind.value for kind in info.kinds],
            "depths": list(info.depths),
            "backfill": info.backfill,
            "rpi": info.rpi,
        }
        for info in declared
    ]
    table = await woox_host("channels", within=30)
    header, *rows = table.out.splitlines()
    assert header.split() == ["channel", "kinds", "depths", "backfill", "rpi"]
    assert [row.split()[0] for row in rows] == [info.channel.value for info in declared]


@pytest.mark.parametrize(
    ("options", "typed", "config"),
    [
        (["1m", "--channel", "trades"], "INTERVAL 1m",
         lambda: StreamConfig("SPOT_BTC_USDT", 60, channel="trades")),
        (["--channel", "bbo", "--depth", "50"], "--depth 50",
         lambda: StreamConfig("SPOT_BTC_USDT", channel="bbo", depth=50)),
        (["--channel", "book", "--depth", "20"], "--depth 20",
         lambda: StreamConfig("SPOT_BTC_USDT", channel="book", depth=20)),
    ],
)  # fmt: skip
async def test_options_a_channel_does_not_take_are_refused_in_the_contracts_words(
    options: list[str], typed: str, config: Callable[[], object]
) -> None:
    ran = await woox_host("stream", "SPOT_BTC_USDT", *options, within=30)
    assert ran.code == 2, ran.err
    assert one_line(ran) == f"woox-host: error: {typed}: {contract_says(config)}"


async def test_an_unknown_channel_is_one_line_listing_the_channels() -> None:
    ran = await woox_host("stream", "SPOT_BTC_USDT", "--channel", "orderbook", within=30)
    assert ran.code == 2
    line = one_line(ran)
    assert line.startswith("woox-host: error: argument --channel: unknown channel 'orderbook'")
    assert all(channel.value in line for channel in Channel)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--channel", "ticker", "--rpi"], "--rpi: "),
        (["--channel", "bbo", "--backfill", "2h"], "--backfill 2h: backfill_from="),
        (["1m", "--channel", "trades", "--finals-only"], "INTERVAL 1m: "),
        (["--channel", "trades", "--finals-only"], "--finals-only: finals_only=True does not"),
        (["--channel", "ticker", "--last", "5"], "--last N starts with the N latest closed"),
        ([], "the candles channel needs an INTERVAL"),
        (["bbo"], "'bbo' is a channel, not an interval: give --channel bbo"),
        (["mark-price"], "give --channel mark_price"),
        (["PERP_ETH_USDT", "--channel", "bbo"], "several symbols go in one argument"),
        (["--channel", "Mark-Price", "--depth", "x"], "'x' is not a number of book levels"),
    ],
)
def test_stream_options_that_cannot_work_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exit_code(["stream", "SPOT_BTC_USDT", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("woox-host: error: ") and message in err, err


@pytest.mark.parametrize(
    ("symbols", "message"),
    [
        ("SPOT_BTC_USDT,,PERP_ETH_USDT", "cannot read 'SPOT_BTC_USDT,,PERP_ETH_USDT' as symbols"),
        ("SPOT_BTC_USDT,spot_btc_usdt", "spot_btc_usdt is listed twice"),
        ("SPOT_BTC_USDT;PERP_ETH_USDT", "separated by commas"),
    ],
)
def test_symbol_lists_that_cannot_be_read_are_one_line_exit_2(
    symbols: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exit_code(["stream", symbols, "1m"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_history_still_takes_one_symbol_and_says_which_command_takes_several(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = exit_code(["history", "SPOT_BTC_USDT,PERP_ETH_USDT", "1h", "--last", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "one symbol per command" in err and "only stream takes several" in err


async def test_several_symbols_stream_as_one_csv_each_gapless_and_exact() -> None:
    symbols = ("SPOT_BTC_USDT", "PERP_ETH_USDT")
    async with WooXSimulator(speed=60.0) as sim:
        argv = ["stream", ",".join(symbols), "1m", "--finals-only", "--backfill", "10m",
                "--format", "csv", *simulator(sim)]  # fmt: skip
        ran = await interrupt_once_written(argv, each_written(symbols, 10))
        assert ran.code == 130, ran.err
        rows = list(csv.DictReader(io.StringIO(ran.out)))
        assert {row["symbol"] for row in rows} == set(symbols)
        for symbol in symbols:
            mine = [row for row in rows if row["symbol"] == symbol]
            assert len(mine) >= 10 and {row["final"] for row in mine} == {"true"}
            assert all(a["close_time"] == b["open_time"] for a, b in itertools.pairwise(mine))
            start = parse_time_ms(mine[0]["open_time"], now_ms=0)
            end = parse_time_ms(mine[-1]["close_time"], now_ms=0)
            truth = sim.candles(symbol, "1m", start, end)
            assert [(r["open"], r["high"], r["low"], r["close"], r["volume"], r["quote_volume"])
                    for r in mine] == [(c.open, c.high, c.low, c.close, c.volume, c.amount)
                                       for c in truth]  # fmt: skip
        for symbol in symbols:
            assert f"[connected] {symbol} 1m" in ran.err


async def test_an_unknown_symbol_among_several_fails_the_command_in_one_line() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        ran = await woox_host("stream", "SPOT_BTC_USDT,SPOT_NOPE_USDT", "1m", "--for", "20",
                              *simulator(sim), within=60)  # fmt: skip
        assert ran.code == 2, ran.err
        assert "Traceback" not in ran.err
        assert ran.err_lines[-1].startswith("woox-host: error: unknown symbol 'SPOT_NOPE_USDT'")
        assert ran.seconds < 20  # it did not run on with the other symbol


# ---------------------------------------------------------------------------------------------
# The latest-value channels, each against the simulator's truth, through one format or another
# (every format of every channel is covered by test_cli_rendering).
# ---------------------------------------------------------------------------------------------

LATEST = [
    (Channel.BBO, "SPOT_BTC_USDT,PERP_ETH_USDT", "jsonl", []),
    (Channel.BBO, "PERP_BTC_USDT", "csv", ["--rpi"]),
    (Channel.TICKER, "SPOT_BTC_USDT,PERP_ETH_USDT", "table", []),
    (Channel.MARK_PRICE, "PERP_BTC_USDT,PERP_ETH_USDT", "csv", ["--tz", "Europe/Berlin"]),
    (Channel.INDEX_PRICE, "PERP_BTC_USDT,SPOT_ETH_USDT", "jsonl", []),
    (Channel.FUNDING, "PERP_BTC_USDT,PERP_ETH_USDT", "table", ["--tz", "America/New_York"]),
    (Channel.OPEN_INTEREST, "PERP_BTC_USDT,PERP_ETH_USDT", "jsonl", []),
]


def each_written(symbols: Sequence[str], n: int) -> Callable[[list[str]], bool]:
    """Enough output: ``n`` lines of values (not status, not a header) per symbol."""

    def enough(lines: list[str]) -> bool:
        values = [line for line in lines if '"type":"status"' not in line]
        return all(sum(symbol in line for line in values) >= n for symbol in symbols)

    return enough


def records(text: str, fmt: str) -> list[dict[str, str]]:
    """What a user's program reads back from ``stream`` output: one dict of text per value."""
    if fmt == "jsonl":
        lines = [json.loads(line) for line in text.splitlines()]
        assert all("type" in line for line in lines), lines
        return [
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in line.items()}
            for line in lines
            if line["type"] != "status"
        ]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    _title, header, *body = text.splitlines()
    names = header.split()
    assert all(len(line) <= 120 for line in text.splitlines())
    return [dict(zip(names, line.split(), strict=True)) for line in body]


def assert_true(sim: WooXSimulator, channel: Channel, rpi: bool, row: dict[str, str]) -> None:
    """A value as the user read it is the simulator's truth at its time, digit for digit."""
    symbol, at = row["symbol"], parse_time_ms(row["time"], now_ms=0)
    if channel is Channel.BBO:
        q = sim.bbo(symbol, rpi, at_ms=at)
        want = {"bid_price": q.bid_price, "bid_size": q.bid_size, "ask_price": q.ask_price,
                "ask_size": q.ask_size}  # fmt: skip
    elif channel is Channel.TICKER:
        k = sim.ticker(symbol, at_ms=at)
        want = {"open": k.open, "high": k.high, "low": k.low, "close": k.close,
                "volume": k.volume, "quote_volume": k.amount, "trades": str(k.trades)}  # fmt: skip
    elif channel is Channel.MARK_PRICE:
        want = {"price": sim.mark_price(symbol, at_ms=at)}
    elif channel is Channel.INDEX_PRICE:
        want = {"price": sim.index_price(symbol, at_ms=at), "channel": "index_price"}
    elif channel is Channel.FUNDING:
        f = sim.funding(symbol, at_ms=at)
        assert parse_time_ms(row["next_funding_time"], now_ms=0) == f.next_funding_time
        want = {"rate": f.rate}
    else:
        want = {"open_interest": sim.open_interest(symbol, at_ms=at).open_interest}
    assert {name: row.get(name) for name in want} == want, (row, at)


@pytest.mark.parametrize(("channel", "symbols", "fmt", "options"), LATEST,
                         ids=[f"{c}-{f}" + "".join(o[:1]) for c, _, f, o in LATEST])  # fmt: skip
async def test_each_latest_value_channel_prints_the_exchanges_values(
    channel: Channel, symbols: str, fmt: str, options: list[str]
) -> None:
    async with WooXSimulator(speed=60.0) as sim:
        argv = ["stream", symbols, "--channel", channel.value, "--format", fmt, *options,
                *simulator(sim)]  # fmt: skip
        ran = await interrupt_once_written(argv, each_written(symbols.split(","), 2))
        assert ran.code == 130, ran.err
        rows = records(ran.out, fmt)
        assert {row["symbol"] for row in rows} == set(symbols.split(","))
        for row in rows:
            assert_true(sim, channel, "--rpi" in options, row)
        if "--tz" in options:
            offset = "-05:00" if "New_York" in options[-1] else "+01:00"
            assert all(row["time"].endswith(offset) for row in rows)
        for symbol in symbols.split(","):
            assert f"[connected] {symbol} {channel.value}" in ran.err


async def test_a_latest_value_stream_heals_and_says_a_fresh_value_follows() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        drops: list[asyncio.Task[None]] = []

        def enough(lines: list[str]) -> bool:
            """Drop the exchange's connections once two values came; enough once a value came
            after the reconnect."""
            types = [json.loads(line).get("kind", json.loads(line)["type"]) for line in lines]
            if not drops and types.count("price") >= 2:
                drops.append(asyncio.create_task(sim.drop_connections()))
            return "reconnecting" in types and "price" in types[types.index("reconnecting") :]

        argv = ["stream", "PERP_BTC_USDT", "--channel", "mark_price", "--format", "jsonl",
                *simulator(sim)]  # fmt: skip
        ran = await interrupt_once_written(argv, enough)
        await asyncio.gather(*drops)
        assert ran.code == 130, ran.err
        assert "(still running: reconnecting, a fresh value follows)" in ran.err
        lines = [json.loads(line) for line in ran.out.splitlines()]
        kinds = [line["kind"] for line in lines if line["type"] == "status"]
        assert kinds.count("connected") >= 2 and "reconnecting" in kinds
        lost = next(i for i, line in enumerate(lines) if line.get("kind") == "reconnecting")
        after = lines[lost:]
        assert any(line["type"] == "price" for line in after)  # values again after the drop


async def test_funding_on_a_spot_symbol_is_refused_before_subscribing() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("stream", "SPOT_BTC_USDT", "--channel", "funding",
                              *simulator(sim), within=30)  # fmt: skip
        assert ran.code == 2, ran.err
        line = one_line(ran)
        assert line.startswith("woox-host: error: ") and "funding" in line
        assert "SPOT_BTC_USDT" in line
        assert sim.connections_opened == 0


# ---------------------------------------------------------------------------------------------
# Trades: the exchange's tape, in every format
# ---------------------------------------------------------------------------------------------

TRADE_FIELDS = ("symbol", "time", "price", "size", "side", "external")


def tape_of(sim: WooXSimulator, symbol: str, start: int, end: int) -> list[tuple[str, ...]]:
    """The simulator's trades in ``[start, end)``, each as a user reads it back (any format):
    symbol, time in ms, price, size, the taker's side, whether it came from another venue."""
    return [
        (t.symbol, str(t.time), t.price, t.size, t.side.lower(), str(t.source == 0).lower())
        for t in sim.trades(symbol, start, end)
    ]


def trades_written(text: str, fmt: str, symbol: str) -> list[tuple[str, ...]]:
    """The trades in ``stream --channel trades`` output, as :func:`tape_of` spells them."""
    if fmt == "table":  # one symbol: named in the title; a blank flag is a missing last cell
        title, header, *body = text.splitlines()
        assert title.startswith(f"{symbol} trades ") and header.split() == list(TRADE_FIELDS[1:])
        rows = [dict(zip(TRADE_FIELDS, [symbol, *line.split(), ""], strict=False))
                for line in body]  # fmt: skip
        for row in rows:
            row["external"] = str(row["external"] == "external").lower()
    else:
        rows = records(text, fmt)
    if fmt == "jsonl":
        assert all(json.loads(line)["type"] in ("trade", "status") for line in text.splitlines())
    return [
        (row["symbol"], str(parse_time_ms(row["time"], now_ms=0)), row["price"], row["size"],
         row["side"], row["external"])
        for row in rows
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl"])
async def test_trades_are_the_exchanges_tape_once_in_order_in_every_format(fmt: str) -> None:
    symbol = "PERP_BTC_USDT"
    async with WooXSimulator(speed=60.0) as sim:
        argv = ["stream", symbol, "--channel", "trades", "--backfill", "2m", "--format", fmt,
                *simulator(sim)]  # fmt: skip
        backfilled = f"[backfilled] {symbol} trades"
        ran = await interrupt_once_written(argv, lambda out: len(out) >= 42, said=backfilled)
        assert ran.code == 130, ran.err
        got = trades_written(ran.out, fmt, symbol)
        times = [int(t[1]) for t in got]
        assert len(got) >= 30 and times == sorted(times), got[:5]
        first, last = times[0], times[-1]
        # Every trade of the tape from the first one written to the last one's millisecond
        # (more of that one may have been on their way), each once, with the exchange's digits:
        # the backfill and the live trades meet with no hole and no repeat.
        assert [t for t in got if int(t[1]) < last] == tape_of(sim, symbol, first, last)
        assert {t[5] for t in got} == {"true", "false"}  # both sources, each flagged
        assert "gap_unfillable" not in ran.err
