"""``woox-host stream`` as a user runs it: it fails loudly when it never connects, heals (and says
so) when it loses a connection it had, stops when told, and writes every format."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re

import pytest
from _cli_helpers import free_port, interrupt_once_said, interrupt_when, simulator, woox_host
from _sim_helpers import eventually

from woox_datasource.simulator import WooXSimulator

STREAM = ["stream", "SPOT_ETH_USDT", "1m"]


def last_line(err: str) -> str:
    assert "Traceback" not in err, err
    return err.splitlines()[-1]


async def test_a_stream_that_never_connects_exits_1_naming_the_url_and_the_last_error() -> None:
    port = free_port()  # nothing listens there
    url = f"ws://127.0.0.1:{port}/v3/public"
    ran = await woox_host(*STREAM, "--rest-url", f"http://127.0.0.1:{port}", "--ws-url", url,
                          "--allow", f"http://127.0.0.1:{port}/*", "--allow", f"ws://127.0.0.1:{port}/*",
                          "--connect-timeout", "2", within=30)  # fmt: skip
    assert ran.code == 1, ran.err
    line = last_line(ran.err)
    assert line.startswith(f"woox-host: NeverConnected: no connection to {url} within 2.0 s")
    assert "Connect call failed" in line  # the last error, as the plugin reported it
    assert ran.out == ""
    # While trying, stderr said it was not connected yet.
    assert "(not connected yet; giving up 2.0 s after the start)" in ran.err


async def test_a_wrong_websocket_path_is_not_retried_forever() -> None:
    async with WooXSimulator() as sim:
        wrong = sim.rest_url.replace("http", "ws") + "/v3/wrong"
        ran = await woox_host(*STREAM, "--rest-url", sim.rest_url, "--ws-url", wrong,
                              "--allow", "http://127.0.0.1:*/*", "--allow", "ws://127.0.0.1:*/*",
                              "--connect-timeout", "1.5", within=30)  # fmt: skip
        assert ran.code == 1, ran.err
        line = last_line(ran.err)
        assert f"no connection to {wrong}" in line and "Invalid response status" in line


async def test_stopping_a_stream_that_cannot_connect_is_prompt() -> None:
    """``--for`` ends the run on time even while the stream is backing off between refused
    connections (it once ran 26 s for --for 15)."""
    async with WooXSimulator() as sim:
        sim.refuse_connections(120.0)
        ran = await woox_host(*STREAM, "--for", "3", *simulator(sim), within=60)
        assert ran.code == 1, ran.err  # it never connected: that is a failure, said on one line
        assert "no connection to ws://127.0.0.1:" in last_line(ran.err)
        assert "stopped" in last_line(ran.err) and "HTTP 503" in last_line(ran.err)
        assert ran.seconds < 3 + 6, ran.seconds  # generous: start-up plus a prompt stop


async def test_ctrl_c_stops_a_reconnecting_stream_at_once() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        sim.refuse_connections(120.0)
        ran, after = await interrupt_when(
            [*STREAM, *simulator(sim)], lambda: sim.connections_refused >= 2
        )
        assert ran.code == 130, ran.err
        assert last_line(ran.err) == "woox-host: interrupted"
        assert after < 5.0, after  # generous: well above the < 1 s the stream layer promises


async def test_a_lost_exchange_is_healed_and_said_so_then_for_ends_it() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        argv = [*STREAM, "--finals-only", "--format", "jsonl", "--for", "8", *simulator(sim)]

        async def chaos() -> None:
            await eventually(lambda: sim.connections_opened >= 1)
            await asyncio.sleep(2.0)
            sim.refuse_connections(1.5)
            await sim.drop_connections()

        faults = asyncio.create_task(chaos())
        ran = await woox_host(*argv, within=60)
        await faults
        assert ran.code == 0, ran.err
        assert "(still running: reconnecting, missed candles will be filled from history)" in (
            ran.err
        )
        lines = [json.loads(line) for line in ran.out.splitlines()]
        kinds = [e["kind"] for e in lines if e["type"] == "status"]
        assert kinds[0] == "connected" and "reconnecting" in kinds and kinds.count("connected") >= 2
        finals = [e for e in lines if e["type"] == "candle"]
        assert finals and all(e["final"] is True for e in finals)
        # Healed, not skipped: each final candle closes where the next one opens.
        assert all(a["close_time"] == b["open_time"] for a, b in itertools.pairwise(finals))


async def test_stream_writes_csv_with_a_final_column_and_backfills_from_minus_2h() -> None:
    # Stopped once it reports the backfill (with --for, a loaded machine could end the run
    # before connecting, the first push and the history read were done: nothing to read).
    async with WooXSimulator(speed=1.0) as sim:
        argv = [*STREAM, "--backfill", "-2h", "--finals-only", "--format", "csv", *simulator(sim)]
        ran = await interrupt_once_said(argv, "[backfilled]")
        assert ran.code == 130 and last_line(ran.err) == "woox-host: interrupted", ran.err
        rows = list(csv.DictReader(io.StringIO(ran.out)))
        assert list(rows[0]) == [
            "symbol", "interval", "open_time", "close_time", "open", "high", "low", "close",
            "volume", "quote_volume", "final",
        ]  # fmt: skip
        assert 119 <= len(rows) <= 121  # two hours of 1m finals, backfilled
        assert {r["final"] for r in rows} == {"true"} and {r["interval"] for r in rows} == {"1m"}
        assert re.search(r"\[backfilled\] SPOT_ETH_USDT 1m \[.*\) 1[12]\d candles", ran.err)


@pytest.mark.parametrize("bad", ["-1", "0", "nan", "inf", "soon"])
async def test_nonsense_durations_are_refused(bad: str) -> None:
    ran = await woox_host(*STREAM, "--for", bad, within=30)
    assert ran.code == 2
    assert ran.err.startswith("woox-host: error: argument --for: ") and ran.err.count("\n") == 1


async def test_the_demo_refuses_nonsense_seconds() -> None:
    ran = await woox_host("demo", "--seconds", "-5", within=30)
    assert ran.code == 2
    assert ran.err.startswith("woox-host: error: argument --seconds: ") and ran.err.count("\n") == 1


async def test_the_stream_table_fits_120_columns_and_names_symbol_and_interval_once() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        ran = await woox_host("stream", "SPOT_BTC_USDT", "1M", "--backfill", "-3M", "--for", "2",
                              *simulator(sim), within=60)  # fmt: skip
        assert ran.code == 0, ran.err
        title, header, *rows = ran.out.splitlines()
        assert title == "SPOT_BTC_USDT 1M (times UTC)"
        assert header.split() == [
            "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
            "final",
        ]  # fmt: skip
        assert len(rows) >= 3 and max(len(line) for line in ran.out.splitlines()) <= 120
