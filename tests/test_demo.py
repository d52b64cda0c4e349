"""``woox-host demo`` is the README's first command; it must pass on its own, within a minute."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end_and_heals_the_stream() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-m", "host_stub", "demo", "--seconds", "12"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== 1. markets:" in done.stdout
    assert "== 2. history: SPOT_BTC_USDT 1h, the last 48 closed hours: 48 candles" in done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.endswith("-> OK"), summary
    assert "contiguous" in summary and "no duplicate" in summary
    assert "[reconnecting]" in done.stderr
    assert "[gap_filled]" in done.stderr
    assert "Traceback" not in done.stderr
