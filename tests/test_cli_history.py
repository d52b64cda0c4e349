"""``woox-host markets`` and ``woox-host history`` as a user runs them: a real process talking to
the simulator over loopback through the host's network policy."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from _cli_helpers import HOUR_MS, hour_floor, one_line, simulator, woox_host

from host_stub.times import format_ms
from woox_datasource.simulator import WooXSimulator

DAY_MS = 24 * HOUR_MS


async def test_history_prints_the_simulators_candles_as_csv() -> None:
    async with WooXSimulator() as sim:
        end = hour_floor(sim.clock.now_ms()) - 5 * HOUR_MS
        start = end - 1500 * HOUR_MS  # two windows of klineHistory
        ran = await woox_host(
            "history",
            "spot_btc_usdt",
            "1h",
            "--start",
            str(start),
            "--end",
            str(end),
            "--format",
            "csv",
            *simulator(sim),
        )
        assert ran.code == 0, ran.err
        rows = list(csv.DictReader(io.StringIO(ran.out)))
        expected = sim.candles("SPOT_BTC_USDT", "1h", start, end)
        assert len(rows) == len(expected) == 1500
        for row, candle in zip(rows, expected, strict=True):
            assert row["symbol"] == "SPOT_BTC_USDT"
            assert row["interval"] == "1h"
            assert row["open_time"] == format_ms(candle.start_ms)
            assert row["close_time"] == format_ms(candle.end_ms)
            assert (row["open"], row["high"], row["low"], row["close"]) == (
                candle.open,
                candle.high,
                candle.low,
                candle.close,
            )
            assert (row["volume"], row["quote_volume"]) == (candle.volume, candle.amount)
        # The summary: one line on stderr, in the user's terms.
        assert one_line(ran) == (
            f"woox-host: 1500 SPOT_BTC_USDT 1h candles [{format_ms(start)}, {format_ms(end)}) "
            f"in {ran.err.split(' in ')[1].split(' s')[0]} s"
        )


async def test_every_format_has_the_same_fields_rendered_the_same_way() -> None:
    async with WooXSimulator() as sim:
        end = hour_floor(sim.clock.now_ms()) // DAY_MS * DAY_MS
        start = end - 3 * 30 * DAY_MS
        argv = ["history", "SPOT_BTC_USDT", "1M", "--start", str(start), "--end", str(end)]
        outputs = {}
        for fmt in ("csv", "jsonl", "table"):
            ran = await woox_host(*argv, "--format", fmt, *simulator(sim))
            assert ran.code == 0, ran.err
            outputs[fmt] = ran.out
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    records = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert rows and [dict(r) for r in rows] == records  # same names, same strings
    assert set(rows[0]) >= {"open_time", "close_time", "interval"}
    assert rows[0]["interval"] == "1M"  # by label, not 2592000
    title, header, *lines = outputs["table"].splitlines()
    assert title == "SPOT_BTC_USDT 1M (times UTC)"
    assert header.split() == [k for k in rows[0] if k not in ("symbol", "interval")]
    for row, line in zip(rows, lines, strict=True):
        assert line.split() == [v for k, v in row.items() if k not in ("symbol", "interval")]


async def test_the_table_fits_120_columns_with_numbers_right_aligned() -> None:
    async with WooXSimulator() as sim:
        widths = []
        for symbol, interval in (("SPOT_BTC_USDT", "1y"), ("SPOT_BTC_USDT", "1M"),
                                 ("PERP_ETH_USDT", "1w"), ("SPOT_1INCH_USDT", "1d")):  # fmt: skip
            ran = await woox_host("history", symbol, interval, "--start", "-3y", *simulator(sim))
            assert ran.code == 0, ran.err
            lines = ran.out.splitlines()
            widths += [len(line) for line in lines]
            header, rows = lines[1], lines[2:]
            assert rows
            # Right-aligned: each number ends where its header ends.
            for name in ("open", "high", "low", "close", "volume", "quote_volume"):
                match = re.search(rf" {name}(?= |$)", header)
                assert match is not None
                end = match.end()
                assert all(row[end - 1] != " " and row[end : end + 1] in ("", " ") for row in rows)
        assert max(widths) <= 120


async def test_history_to_file_as_jsonl(tmp_path: Path) -> None:
    async with WooXSimulator() as sim:
        target = tmp_path / "out.jsonl"
        ran = await woox_host(
            "history",
            "PERP_ETH_USDT",
            "1d",
            "--start",
            "-30d",
            "--end",
            "-2d",
            "--format",
            "jsonl",
            "--out",
            str(target),
            *simulator(sim),
        )
        assert ran.code == 0, ran.err
        assert ran.out == ""
        records = [json.loads(line) for line in target.read_text().splitlines()]
        assert 27 <= len(records) <= 29
        opens = [r["open_time"] for r in records]
        assert opens == sorted(set(opens))
        assert f"written to {target}" in one_line(ran)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # noqa: ASYNC240 - no temporary left


async def test_history_without_allow_is_refused_and_says_how_to_admit() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host(
            "history",
            "SPOT_BTC_USDT",
            "1h",
            "--start",
            "-1d",
            "--rest-url",
            sim.rest_url,
            "--ws-url",
            sim.ws_url,
        )
        assert ran.code == 2
        assert ran.out == ""
        port = sim.rest_url.rsplit(":", 1)[1]
        line = one_line(ran)
        assert "network policy refuses" in line
        assert f"--allow 'http://127.0.0.1:{port}/*' --allow 'ws://127.0.0.1:{port}/*'" in line
        assert not sim.requests  # nothing reached the simulator


async def test_history_unknown_symbol_is_one_line_exit_2() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", "SPOT_NOPE_USDT", "1h", "--start", "-1d", *simulator(sim))
        assert ran.code == 2
        assert "SPOT_NOPE_USDT" in one_line(ran)


async def test_markets_filters_by_kind() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("markets", "--kind", "perp", "--format", "csv", *simulator(sim))
        assert ran.code == 0, ran.err
        rows = list(csv.DictReader(io.StringIO(ran.out)))
        assert rows
        assert all(r["kind"] == "perp" and r["symbol"].startswith("PERP_") for r in rows)
        table = await woox_host("markets", *simulator(sim))
        assert table.code == 0 and max(len(line) for line in table.out.splitlines()) <= 120


# -- time arguments in the user's terms -------------------------------------------------------


async def test_a_start_in_the_future_is_reported_as_such_in_the_users_terms() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", "SPOT_BTC_USDT", "1h", "--start", "2999-01-01",
                              *simulator(sim))  # fmt: skip
        assert ran.code == 2
        line = one_line(ran)
        assert "--start 2999-01-01 (2999-01-01T00:00:00Z) is in the future" in line
        assert "reversed" not in line and "epoch" not in line and not re.search(r"\d{13}", line)
        assert not sim.requests


async def test_a_reversed_range_names_the_dates_the_user_gave() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", "SPOT_BTC_USDT", "1h", "--start", "2024-02-01",
                              "--end", "2024-01-01", *simulator(sim))  # fmt: skip
        assert ran.code == 2
        assert one_line(ran) == (
            "woox-host: error: --start 2024-02-01 (2024-02-01T00:00:00Z) is not before "
            "--end 2024-01-01 (2024-01-01T00:00:00Z); the range is [start, end)"
        )


@pytest.mark.parametrize("start", ["-1y", "-1.5h", "-2w", "-1M", "-90m"])
async def test_every_relative_unit_works_on_the_command_line(start: str) -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", "SPOT_BTC_USDT", "1h", "--start", start, *simulator(sim))
        assert ran.code == 0, ran.err
        # -1.5h may hold only the candle still forming, which is said as such.
        summary = r"woox-host: (\d+ SPOT_BTC_USDT 1h candles? \[.*\) in .* s|no candles: no 1h "
        summary += r"candle opening in \[.*\) has closed yet \(history holds closed candles only\))"
        assert re.fullmatch(summary, one_line(ran))


# -- empty results say why ----------------------------------------------------------------------


async def test_a_range_shorter_than_one_candle_says_so_instead_of_a_bare_header() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", "SPOT_BTC_USDT", "1d", "--start", "-2h", *simulator(sim))
        assert ran.code == 0, ran.err
        assert ran.out == ""
        assert "no candles: " in one_line(ran) and "shorter than one 1d candle" in ran.err


async def test_a_range_before_the_listing_says_when_the_symbol_starts() -> None:
    async with WooXSimulator() as sim:
        listed = sim.symbols["PERP_2Z_USDT"]  # listed 36 h before the simulator's clock start
        ran = await woox_host("history", "PERP_2Z_USDT", "1h", "--start",
                              format_ms(listed - 3 * DAY_MS), "--end", format_ms(listed - DAY_MS),
                              "--format", "csv", *simulator(sim))  # fmt: skip
        assert ran.code == 0, ran.err
        assert ran.out.splitlines() == [
            "symbol,interval,open_time,close_time,open,high,low,close,volume,quote_volume"
        ]
        line = one_line(ran)
        assert "no candles" in line and "first one after that opens at" in line
        first = sim.candles("PERP_2Z_USDT", "1h", listed, listed + 2 * HOUR_MS)[0]
        assert format_ms(first.start_ms) in line
