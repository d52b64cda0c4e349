"""``woox-host markets`` and ``woox-host history`` as a user runs them: a real process talking to
the simulator over loopback through the host's network policy."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import sys
from pathlib import Path

from woox_datasource.simulator import WooXSimulator

HOUR_MS = 3_600_000


async def woox_host(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "host_stub",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def allow(sim: WooXSimulator) -> list[str]:
    return ["--rest-url", sim.rest_url, "--allow", "http://127.0.0.1:*/*"]


async def test_history_prints_the_simulators_candles_as_csv() -> None:
    async with WooXSimulator() as sim:
        end = sim.clock.now_ms() // HOUR_MS * HOUR_MS - 5 * HOUR_MS
        start = end - 1500 * HOUR_MS  # two windows of klineHistory
        code, out, err = await woox_host(
            "history",
            "spot_btc_usdt",
            "1h",
            "--start",
            str(start),
            "--end",
            str(end),
            "--format",
            "csv",
            *allow(sim),
        )
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        expected = sim.candles("SPOT_BTC_USDT", "1h", start, end)
        assert len(rows) == len(expected) == 1500
        for row, candle in zip(rows, expected, strict=True):
            assert row["symbol"] == "SPOT_BTC_USDT"
            assert row["interval"] == "3600"
            assert int(row["open_time"]) == candle.start_ms
            assert (row["open"], row["high"], row["low"], row["close"]) == (
                candle.open,
                candle.high,
                candle.low,
                candle.close,
            )
            assert (row["volume"], row["quote_volume"]) == (candle.volume, candle.amount)


async def test_history_to_file_as_jsonl(tmp_path: Path) -> None:
    async with WooXSimulator() as sim:
        target = tmp_path / "out.jsonl"
        code, out, err = await woox_host(
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
            *allow(sim),
        )
        assert code == 0, err
        assert out == ""
        records = [json.loads(line) for line in target.read_text().splitlines()]
        assert 27 <= len(records) <= 29
        opens = [r["open_time"] for r in records]
        assert opens == sorted(set(opens))
        first = sim.candles("PERP_ETH_USDT", "1d", opens[0], opens[0] + 1)[0]
        assert records[0]["quote_volume"] == first.amount


async def test_history_without_allow_is_refused_and_says_how_to_admit() -> None:
    async with WooXSimulator() as sim:
        code, out, err = await woox_host(
            "history", "SPOT_BTC_USDT", "1h", "--start", "-1d", "--rest-url", sim.rest_url
        )
        assert code == 2
        assert out == ""
        port = sim.rest_url.rsplit(":", 1)[1]
        assert "network policy refuses" in err
        assert f"--allow 'http://127.0.0.1:{port}/*'" in err
        assert not sim.requests  # nothing reached the simulator


async def test_history_unknown_symbol_is_one_line_exit_2() -> None:
    async with WooXSimulator() as sim:
        code, _, err = await woox_host(
            "history", "SPOT_NOPE_USDT", "1h", "--start", "-1d", *allow(sim)
        )
        assert code == 2
        assert "SPOT_NOPE_USDT" in err
        assert err.count("\n") == 1


async def test_markets_filters_by_kind() -> None:
    async with WooXSimulator() as sim:
        code, out, err = await woox_host(
            "markets", "--kind", "perp", "--format", "csv", *allow(sim)
        )
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows
        assert all(r["kind"] == "perp" and r["symbol"].startswith("PERP_") for r in rows)


async def test_stream_prints_live_finals_equal_to_history_then_stops_by_itself() -> None:
    async with WooXSimulator(speed=120.0) as sim:
        code, out, err = await woox_host(
            "stream",
            "SPOT_ETH_USDT",
            "1m",
            "--finals-only",
            "--backfill",
            "5m",
            "--for",
            "4",
            "--format",
            "jsonl",
            "--ws-url",
            sim.ws_url,
            "--allow",
            "ws://127.0.0.1:*/*",
            *allow(sim),
        )
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert len(events) >= 5  # backfill, then a final every half second of market time
        assert all(e["final"] is True for e in events)
        opens = [e["open_time"] for e in events]
        assert all(b - a == 60_000 for a, b in itertools.pairwise(opens))
        truth = sim.candles("SPOT_ETH_USDT", "1m", opens[0], opens[-1] + 1)
        assert [e["close"] for e in events] == [t.close for t in truth]
        assert [e["quote_volume"] for e in events] == [t.amount for t in truth]
        assert "[connected] SPOT_ETH_USDT 60s" in err
        assert "[backfilled]" in err
