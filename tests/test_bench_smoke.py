"""The benchmarks are not part of the suite, but they must keep running: each channel benchmark
once in its smallest mode, in a child process as a user would run it (a generous bound proves
only "not stuck"; the figures are the benchmarks' business)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from host_stub.spec import Channel
from woox_datasource.channels.registry import CHANNELS

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_channels_measures_every_channel_served() -> None:
    out = run("benchmarks.bench_channels", "--smoke")
    for channel in CHANNELS.keys() - {Channel.BOOK}:  # (bench_book's own)
        assert re.search(rf"^{channel}\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+x", out, re.M), out


def test_bench_venue_channels_runs_the_whole_venue() -> None:
    out = run("benchmarks.bench_venue_channels", "--seconds", "1", "--settle", "0")
    assert re.search(r"^subscription: all \d+ connected", out, re.M), out
    for line in ("steady ", "RSS (MB) over time: ", "gaps: ", "shutdown: "):
        assert re.search(rf"^{re.escape(line)}", out, re.M), out
