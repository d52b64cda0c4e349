"""``woox-host``: plugin listing, option placement, the one-line errors for bad input, and the
time syntax users type."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_stub.cli import explain_empty, main
from host_stub.hosting import load
from host_stub.times import (
    TimeSyntaxError,
    ago_ms,
    format_ms,
    parse_seconds,
    parse_since_ms,
    parse_time_ms,
)

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z


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


def test_module_entry_runs_the_cli_and_tells_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "host_stub", "plugins"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "woox: loaded" in done.stdout
    argv = [sys.executable, "-m", "host_stub", "--version"]
    version = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (version.returncode, version.stdout) == (0, "woox-host 0.1.0\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "SPOT_BTC_USDT", "2m", "--start", "-1d"], "unsupported interval '2m'"),
        (["history", "SPOT_BTC_USDT", "120", "--start", "-1d"], "120"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "yesterday"], "cannot read time"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "-1d", "--end", "-2d"], "is not before"),
        (["history", "BTC_USDT", "1h", "--start", "-1d"], "SPOT_"),
        (["history", "SPOT_BTC_USDT", "1h"], "one of the arguments --start --last is required"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "-1d", "--bogus"], "unrecognized"),
        (["stream", "SPOT_BTC_USDT", "1m", "--format", "xml"], "invalid choice: 'xml'"),
        (["--allow", "http://user@127.0.0.1/*", "markets"], "--allow"),
        (["--plugin", "nope", "markets"], "no datasource plugin named 'nope'"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code, _ = run(argv)
    except SystemExit as exit_:  # argparse's own errors leave through SystemExit
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("woox-host: error: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-7d", NOW - 7 * 86_400_000),
        ("-1.5h", NOW - 5_400_000),
        ("-90s", NOW - 90_000),
        ("-2w", NOW - 14 * 86_400_000),
        ("-1M", int(datetime(2023, 10, 14, 22, 13, 20, tzinfo=UTC).timestamp() * 1000)),
        ("-1y", int(datetime(2022, 11, 14, 22, 13, 20, tzinfo=UTC).timestamp() * 1000)),
        ("2024-01-01", 1_704_067_200_000),
        ("2024-01-01T02:00:00+02:00", 1_704_067_200_000),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("1704067200000", 1_704_067_200_000),
    ],
)
def test_every_documented_time_form(text: str, expected: int) -> None:
    assert parse_time_ms(text, now_ms=NOW) == expected


def test_calendar_steps_clamp_to_the_month() -> None:
    march_31 = int(datetime(2024, 3, 31, 12, tzinfo=UTC).timestamp() * 1000)
    assert format_ms(ago_ms("1M", now_ms=march_31)) == "2024-02-29T12:00:00Z"
    leap_day = int(datetime(2024, 2, 29, tzinfo=UTC).timestamp() * 1000)
    assert format_ms(ago_ms("1y", now_ms=leap_day)) == "2023-02-28T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1704067200", "1704067200000 for 1704067200 seconds"),
        ("soon", "cannot read time"),
        ("-7x", "one of s (seconds)"),
        ("-0d", "no time at all"),
        ("-1.5M", "whole numbers"),
    ],
)
def test_unreadable_times_say_what_would_be_right(text: str, message: str) -> None:
    with pytest.raises(TimeSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_time_ms(text, now_ms=NOW)


def test_backfill_takes_an_amount_back_or_a_time() -> None:
    assert parse_since_ms("2h", now_ms=NOW) == parse_since_ms("-2h", now_ms=NOW) == NOW - 7_200_000
    assert parse_since_ms("2024-01-01", now_ms=NOW) == 1_704_067_200_000


@pytest.mark.parametrize("bad", ["-1", "0", "nan", "inf", "-inf", "1e400", "", "abc", "-5s"])
def test_lengths_of_time_must_be_positive_and_finite(bad: str) -> None:
    with pytest.raises(TimeSyntaxError, match="positive number of seconds"):
        parse_seconds(bad)


def test_lengths_of_time_take_units() -> None:
    assert [parse_seconds(t) for t in ("15", "2.5", "90s", "2m", "1h", "1d")] == [
        15.0,
        2.5,
        90.0,
        120.0,
        3600.0,
        86400.0,
    ]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy machine
@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # up to 2100
def test_every_time_written_reads_back_as_itself(ms: int) -> None:
    assert parse_time_ms(format_ms(ms), now_ms=NOW) == ms


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy machine
@given(st.integers(min_value=1, max_value=10_000), st.sampled_from("smhdw"))
def test_relative_fixed_units_are_exact(amount: int, unit: str) -> None:
    step = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}[unit]
    assert parse_time_ms(f"-{amount}{unit}", now_ms=NOW) == NOW - amount * step


async def test_an_empty_range_is_explained_before_asking_the_exchange_again() -> None:
    plugin = load("woox")
    hour = 3_600_000
    async with aiohttp.ClientSession() as unused:  # neither case needs the network
        short = await explain_empty(plugin, unused, "SPOT_BTC_USDT", 3600, NOW - hour // 2, NOW,
                                    NOW)  # fmt: skip
        forming = await explain_empty(plugin, unused, "SPOT_BTC_USDT", 3600, NOW - hour - 1000,
                                      NOW, NOW)  # fmt: skip
    assert short == (
        "[2023-11-14T21:43:20Z, 2023-11-14T22:13:20Z) is shorter than one 1h candle and holds no "
        "closed one (history holds closed candles only)"
    )
    # 21:13:19 .. 22:13:20: the 22:00 candle opens inside and is still forming.
    assert forming == (
        "no 1h candle opening in [2023-11-14T21:13:19Z, 2023-11-14T22:13:20Z) has closed yet "
        "(history holds closed candles only)"
    )
