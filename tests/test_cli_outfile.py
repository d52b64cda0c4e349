"""``--out FILE`` is all or nothing, and the progress line never lands in the data."""

from __future__ import annotations

import asyncio
import os
import pty
import stat
from pathlib import Path

import pytest
from _cli_helpers import command, free_port, interrupt_when, one_line, simulator, woox_host

from woox_datasource.simulator import WooXSimulator

OLD = "the previous download\n"


def history(target: Path, *options: str) -> list[str]:
    return ["history", "SPOT_BTC_USDT", "1h", "--start", "-3d", "--format", "csv",
            "--out", str(target), *options]  # fmt: skip


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("failure", ["unknown symbol", "refused url", "dead server"])
async def test_a_failed_download_leaves_the_old_file_untouched_and_says_so(
    tmp_path: Path, failure: str
) -> None:
    target = tmp_path / "btc.csv"
    target.write_text(OLD)
    async with WooXSimulator() as sim:
        argv = history(target, *simulator(sim))
        if failure == "unknown symbol":
            argv[1] = "SPOT_NOPE_USDT"
        elif failure == "refused url":  # the user forgot to admit the server
            argv = history(target, "--rest-url", sim.rest_url, "--ws-url", sim.ws_url)
        else:
            port = free_port()
            argv = history(target, "--rest-url", f"http://127.0.0.1:{port}", "--ws-url",
                           f"ws://127.0.0.1:{port}/", "--allow", "http://127.0.0.1:*/*",
                           "--allow", "ws://127.0.0.1:*/*")  # fmt: skip
        ran = await woox_host(*argv, within=60)
    assert ran.code == (1 if failure == "dead server" else 2)
    assert one_line(ran).endswith(f"; nothing was written to {str(target)!r} (the existing file is "
                                  "unchanged)")  # fmt: skip
    assert target.read_text() == OLD
    assert leftovers(tmp_path) == ["btc.csv"]


async def test_an_interrupted_download_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "btc.csv"
    target.write_text(OLD)
    async with WooXSimulator() as sim:
        sim.faults.latency_s = 0.3  # slow enough to be interrupted mid-way
        argv = ["history", "SPOT_BTC_USDT", "1m", "--start", "-60d", "--format", "csv",
                "--out", str(target), *simulator(sim)]  # fmt: skip

        def downloading() -> bool:
            return len(sim.requests) >= 3 and len(leftovers(tmp_path)) == 2

        ran, after = await interrupt_when(argv, downloading)
    assert ran.code == 130, ran.err
    assert one_line(ran) == (
        f"woox-host: interrupted; nothing was written to {str(target)!r} (the existing file is "
        "unchanged)"
    )
    assert target.read_text() == OLD
    assert leftovers(tmp_path) == ["btc.csv"]
    assert after < 10.0


async def test_a_successful_download_replaces_the_file_keeping_its_permissions(
    tmp_path: Path,
) -> None:
    target = tmp_path / "btc.csv"
    target.write_text(OLD)
    target.chmod(0o640)
    fresh = tmp_path / "new.csv"
    async with WooXSimulator() as sim:
        ran = await woox_host(*history(target, *simulator(sim)), within=60)
        again = await woox_host(*history(fresh, *simulator(sim)), within=60)
    assert ran.code == again.code == 0, ran.err + again.err
    assert target.read_text().startswith("symbol,interval,open_time")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    assert leftovers(tmp_path) == ["btc.csv", "new.csv"]


async def run_on_terminal(argv: list[str], *, data_on_terminal: bool) -> tuple[str, bytes]:
    """Run woox-host with stderr (and, if asked, stdout) on a pseudo-terminal; return what went
    to a stdout pipe (if any) and everything the terminal showed."""
    controller, terminal = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        *command(*argv),
        stdout=terminal if data_on_terminal else asyncio.subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)

    def read_all() -> bytes:
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer has gone
                return b"".join(chunks)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    try:
        shown, (out, _) = await asyncio.wait_for(
            asyncio.gather(asyncio.to_thread(read_all), process.communicate()), 60
        )
    finally:
        os.close(controller)
    assert process.returncode == 0, shown
    return (out or b"").decode(), shown


async def test_progress_is_drawn_only_when_the_data_goes_elsewhere() -> None:
    async with WooXSimulator() as sim:
        argv = ["history", "SPOT_BTC_USDT", "1m", "--start", "-3d", "--format", "csv",
                *simulator(sim)]  # fmt: skip
        out, shown = await run_on_terminal(argv, data_on_terminal=False)
        assert out.startswith("symbol,interval,open_time")
        assert b"\r[" in shown and b"rows/s" in shown  # progress, then cleared
        assert b"\x1b[K" in shown

        _, shown = await run_on_terminal(argv, data_on_terminal=True)
        assert b"symbol,interval,open_time" in shown
        assert b"\r[" not in shown and b"rows/s" not in shown  # the data is not torn apart
