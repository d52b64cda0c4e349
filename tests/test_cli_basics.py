"""``woox-host``: plugin listing, option placement and the one-line errors for bad input."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from host_stub.cli import main
from host_stub.times import TimeSyntaxError, parse_duration_ms, parse_time_ms


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_plugins_lists_the_woox_plugin() -> None:
    code, text = run(["plugins"])
    assert code == 0
    assert "woox: loaded" in text
    assert "woox_datasource.plugin:plugin" in text
    assert "https://api.woox.io/*" in text and "wss://wss.staging.woox.io/*" in text
    assert "version     : 0.1.0" in text


def test_module_entry_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "host_stub", "plugins"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "woox: loaded" in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "SPOT_BTC_USDT", "2m", "--start", "-1d"], "unsupported interval '2m'"),
        (["history", "SPOT_BTC_USDT", "120", "--start", "-1d"], "120"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "yesterday"], "cannot read time"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "-1d", "--end", "-2d"], "reversed range"),
        (["history", "BTC_USDT", "1h", "--start", "-1d"], "SPOT_"),
        (
            [
                "history",
                "SPOT_BTC_USDT",
                "1h",
                "--start",
                "-1d",
                "--rest-url",
                "http://127.0.0.1:9",
            ],
            "--allow 'http://127.0.0.1:9/*'",
        ),
        (["--allow", "http://user@127.0.0.1/*", "markets"], "--allow"),
        (["--plugin", "nope", "markets"], "no datasource plugin named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_time_parsing() -> None:
    now = 1_700_000_000_000
    assert parse_time_ms("now", now_ms=now) == now
    assert parse_time_ms("-7d", now_ms=now) == now - 7 * 86_400_000
    assert parse_time_ms("2024-01-01", now_ms=now) == 1_704_067_200_000
    assert parse_time_ms("2024-01-01T02:00:00+02:00", now_ms=now) == 1_704_067_200_000
    assert parse_time_ms("1704067200000", now_ms=now) == 1_704_067_200_000
    assert parse_duration_ms("90m") == 5_400_000
    for bad in ("1704067200", "soon", "-7x", "-0d"):
        with pytest.raises(TimeSyntaxError):
            parse_time_ms(bad, now_ms=now)
