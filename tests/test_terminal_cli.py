"""The terminal's commands as a user runs them, real ``woox-host`` processes against the
simulator: ``history --last``, ``sync``, ``history --store``, ``chart``, ``--tz`` and
``stream --last``."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from _cli_helpers import HOUR_MS, hour_floor, simulator, woox_host
from PIL import Image

from host_stub.times import format_ms
from woox_datasource.simulator import WooXSimulator

DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000
BTC = "SPOT_BTC_USDT"


def closed(sim: WooXSimulator, rest_type: str, start: int, end: int) -> list[object]:
    now = sim.clock.now_ms()
    return [c for c in sim.candles(BTC, rest_type, start, end) if c.end_ms <= now]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_row(candle: object) -> dict[str, str]:
    c = candle
    return {
        "symbol": BTC,
        "open_time": format_ms(c.start_ms),  # type: ignore[attr-defined]
        "open": c.open,  # type: ignore[attr-defined]
        "high": c.high,  # type: ignore[attr-defined]
        "low": c.low,  # type: ignore[attr-defined]
        "close": c.close,  # type: ignore[attr-defined]
        "volume": c.volume,  # type: ignore[attr-defined]
        "quote_volume": c.amount,  # type: ignore[attr-defined]
    }


def picked(row: dict[str, str]) -> dict[str, str]:
    return {k: row[k] for k in ("symbol", "open_time", "open", "high", "low", "close",
                                "volume", "quote_volume")}  # fmt: skip


# ---- history --last ----------------------------------------------------------------------------


async def test_history_last_prints_the_latest_closed_candles() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", BTC, "1h", "--last", "1001", "--format", "csv", *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 0, ran.err
        want = closed(sim, "1h", sim.clock.now_ms() - 1100 * HOUR_MS, sim.clock.now_ms())[-1001:]
        assert [picked(r) for r in rows(ran.out)] == [as_row(c) for c in want]
        assert len(sim.requests) == 2
        assert ran.err.startswith("woox-host: 1001 SPOT_BTC_USDT 1h candles [")


async def test_history_last_before_an_end() -> None:
    async with WooXSimulator() as sim:
        end = hour_floor(sim.clock.now_ms()) - 10 * DAY_MS + 1
        ran = await woox_host("history", BTC, "1h", "--last", "5", "--end", str(end), "--format", "csv", *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 0, ran.err
        want = closed(sim, "1h", end - 10 * HOUR_MS, end)[-5:]
        assert [picked(r) for r in rows(ran.out)] == [as_row(c) for c in want]


async def test_history_takes_start_or_last_not_both() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("history", BTC, "1h", "--last", "5", "--start", "-1d", *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 2
        assert "not allowed with argument" in ran.err
        ran = await woox_host("history", BTC, "1h", "--last", "0", *simulator(sim))
        assert ran.code == 2 and "'0' is not a number of candles" in ran.err
        assert sim.requests == []


# ---- sync and history --store --------------------------------------------------------------


async def test_sync_then_history_from_the_store(tmp_path: Path) -> None:
    store = str(tmp_path / "candles")
    async with WooXSimulator() as sim:
        latest = hour_floor(sim.clock.now_ms()) - DAY_MS
        start, end = latest - 60 * DAY_MS, latest - 10 * DAY_MS
        argv = ["sync", BTC, "1h", "--start", str(start), "--end", str(end), "--store", store]
        first = await woox_host(*argv, *simulator(sim))
        assert first.code == 0, first.err
        assert first.err_lines[0].startswith("woox-host: stored 1200 candles [")
        assert first.err_lines[-1] == (
            f"woox-host: 1200 candles in 1 new file; the store holds "
            f"[{format_ms(start)}, {format_ms(end)}) ({store})"
        )
        requests = len(sim.requests)
        again = await woox_host(*argv, *simulator(sim))
        assert again.code == 0, again.err
        assert again.err_lines == [
            f"woox-host: nothing to fetch; the store holds [{format_ms(start)}, {format_ms(end)}) "
            f"({store})"
        ]
        assert len(sim.requests) == requests  # a closed range already held: no request at all

        # history --store: read from the store, fetch only what it lacks (the 10 days after)
        wider = ["--start", str(start), "--end", str(latest), "--format", "csv"]
        stored = await woox_host("history", BTC, "1h", *wider, "--store", store, *simulator(sim))
        assert stored.code == 0, stored.err
        asked = sim.requests[requests:]
        assert asked and all(int(r.query["before"]) > end for r in asked)
        plain = await woox_host("history", BTC, "1h", *wider, *simulator(sim))
        assert rows(stored.out) == rows(plain.out)  # the same candles, the same digits
        assert len(rows(plain.out)) == 1440


async def test_a_foreign_file_in_the_store_is_reported(tmp_path: Path) -> None:
    store = tmp_path / "candles"
    directory = store / "plugin=woox" / f"symbol={BTC}" / "interval=3600"
    directory.mkdir(parents=True)
    (directory / "mine.parquet").write_bytes(b"not yours")
    async with WooXSimulator() as sim:
        ran = await woox_host("sync", BTC, "1h", "--start", "-2d", "--store", str(store), *simulator(sim))  # fmt: skip # noqa: E501
    assert ran.code == 1
    assert "woox-host: candle store:" in ran.err and "mine.parquet: not a file this store writes" in ran.err  # fmt: skip # noqa: E501
    assert (directory / "mine.parquet").read_bytes() == b"not yours"


# ---- chart -------------------------------------------------------------------------------------


async def test_chart_renders_a_png_and_an_html_page(tmp_path: Path) -> None:
    async with WooXSimulator() as sim:
        png, html = tmp_path / "btc.png", tmp_path / "btc.html"
        ran = await woox_host("chart", BTC, "1h", "--last", "120", "--out", str(png), *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 0, ran.err
        assert ran.err_lines == [f"woox-host: charted 120 candles to {png}"]
        store = str(tmp_path / "candles")
        ran = await woox_host("chart", BTC, "1d", "--last", "60", "--out", str(html), "--store", store, *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 0, ran.err
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1200, 700)
        colors = {color for _, color in image.convert("RGB").getcolors(1 << 20) or []}
    assert (0x26, 0xA6, 0x9A) in colors and (0xEF, 0x53, 0x50) in colors  # up and down candles
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page and "</svg>" in page
    assert f"<title>{BTC} 1d (woox)" in page
    assert "<script" not in page and "http://" not in page.split("<svg", 1)[0]


async def test_chart_refuses_an_unknown_file_type_before_fetching(tmp_path: Path) -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("chart", BTC, "1h", "--last", "10", "--out", str(tmp_path / "x.svg"), *simulator(sim))  # fmt: skip # noqa: E501
        assert ran.code == 2 and "name the file .png or .html" in ran.err
        assert sim.requests == []


# ---- --tz --------------------------------------------------------------------------------------


async def test_tz_shows_and_reads_times_in_the_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    async with WooXSimulator() as sim:
        day = datetime.fromtimestamp(sim.clock.now_ms() / 1000 - 5 * 86400, tokyo).date()
        naive = f"{day.isoformat()}T09:00"  # 09:00 in Tokyo is 00:00 UTC
        argv = ["history", BTC, "1h", "--start", naive, "--end", f"{day.isoformat()}T12:00"]
        ran = await woox_host(*argv, "--format", "csv", "--tz", "Asia/Tokyo", *simulator(sim))
        assert ran.code == 0, ran.err
        got = rows(ran.out)
        assert [r["open_time"] for r in got] == [f"{day.isoformat()}T{h}:00:00+09:00" for h in ("09", "10", "11")]  # fmt: skip # noqa: E501
        start = int(datetime.fromisoformat(naive).replace(tzinfo=tokyo).timestamp() * 1000)
        assert [picked(r)["open"] for r in got] == [c.open for c in sim.candles(BTC, "1h", start, start + 3 * HOUR_MS)]  # fmt: skip # noqa: E501
        table = await woox_host(*argv, "--tz", "Asia/Tokyo", *simulator(sim))
        assert table.out.splitlines()[0] == f"{BTC} 1h (times Asia/Tokyo)"
        bad = await woox_host(*argv, "--tz", "Mars/Olympus", *simulator(sim))
        assert bad.code == 2 and "unknown time zone 'Mars/Olympus'" in bad.err


# ---- stream --last -------------------------------------------------------------------------------


async def test_stream_starts_with_the_last_n_then_goes_on_without_a_gap() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        ran = await woox_host(
            "stream", BTC, "1m", "--last", "5", "--finals-only", "--format", "jsonl",
            "--for", "4", *simulator(sim),
        )  # fmt: skip
        assert ran.code == 0, ran.err
        candles = [json.loads(line) for line in ran.out.splitlines()]
        candles = [c for c in candles if c.get("type") == "candle"]
        assert all(c["final"] for c in candles)
        opens = [datetime.fromisoformat(c["open_time"]).timestamp() * 1000 for c in candles]
        assert len(opens) >= 7  # the five, then live ones (a minute per second)
        assert all(b - a == MINUTE_MS for a, b in itertools.pairwise(opens))
        truth = {format_ms(c.start_ms): c.close for c in sim.candles(BTC, "1m", int(opens[0]), int(opens[-1]) + 1)}  # fmt: skip # noqa: E501
        assert [c["close"] for c in candles] == [truth[c["open_time"]] for c in candles]
