"""The timeframe table and its calendar arithmetic, checked against datetime and by properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import InvalidRequest
from woox_datasource import timeframes as tfs
from woox_datasource.timeframes import (
    TIMEFRAMES,
    Timeframe,
    ceil_open,
    count_opens,
    floor_open,
    for_history,
    for_live,
    next_open,
    nth_open,
    opens,
    parse_interval,
)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def dt(t_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t_ms)


MONTH = parse_interval("1M")
YEAR = parse_interval("1y")
WEEK = parse_interval("1w")

times = st.integers(min_value=0, max_value=ms(2200, 1, 1))
timeframes = st.sampled_from(TIMEFRAMES)


def test_table_matches_documented_spellings() -> None:
    rest = [tf.rest_type for tf in TIMEFRAMES if tf.rest_type]
    ws = [tf.ws_type for tf in TIMEFRAMES if tf.ws_type]
    assert rest == [
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "12h",
        "1d",
        "1w",
        "1mon",
        "1y",
    ]
    assert ws == [
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    ]
    assert [tf.interval for tf in TIMEFRAMES] == sorted(tf.interval for tf in TIMEFRAMES)
    three_days = parse_interval(259200)
    assert (three_days.history, three_days.live) == (False, True)
    assert (YEAR.history, YEAR.live) == (True, False)
    assert (MONTH.rest_type, MONTH.ws_type, MONTH.label) == ("1mon", "1M", "1M")


@pytest.mark.parametrize(
    ("value", "interval"),
    [
        (3600, 3600),
        ("3600", 3600),
        ("1h", 3600),
        ("1H", 3600),
        (" 1d ", 86400),
        ("1m", 60),
        ("1M", 2592000),
        ("1mon", 2592000),
        ("1MON", 2592000),
        ("1y", 31536000),
        ("1Y", 31536000),
        ("3d", 259200),
        ("1w", 604800),
        ("1W", 604800),
    ],
)
def test_parse_interval_spellings(value: int | str, interval: int) -> None:
    assert parse_interval(value).interval == interval


@pytest.mark.parametrize("value", [120, "120", "2m", "15M", "3M", "", "1x", True, None, 60.0])
def test_parse_interval_rejects_with_the_supported_list(value: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_interval(value)  # type: ignore[arg-type]
    assert "60 (1m)" in str(info.value) or "seconds or a label" in str(info.value)


def test_minute_month_ambiguity_is_explained() -> None:
    with pytest.raises(InvalidRequest, match="case matters"):
        parse_interval("15M")


def test_history_and_live_refusals_name_the_alternatives() -> None:
    with pytest.raises(InvalidRequest, match=r"live only.*history intervals:.*31536000 \(1y\)"):
        for_history(259200)
    with pytest.raises(InvalidRequest, match=r"history only.*live intervals:.*259200 \(3d\)"):
        for_live(31536000)
    assert for_history("1mon") is MONTH
    assert for_live("1M") is MONTH


def test_timeframe_infos_cover_the_table() -> None:
    infos = tfs.timeframe_infos()
    assert [(i.interval, i.label, i.history, i.live) for i in infos] == [
        (tf.interval, tf.label, tf.history, tf.live) for tf in TIMEFRAMES
    ]


def test_known_alignments() -> None:
    t = ms(2024, 2, 29, 13, 37)
    assert floor_open(MONTH, t) == ms(2024, 2, 1)
    assert next_open(MONTH, ms(2024, 2, 1)) == ms(2024, 3, 1)
    assert next_open(MONTH, ms(2023, 12, 1)) == ms(2024, 1, 1)
    assert floor_open(YEAR, t) == ms(2024, 1, 1)
    assert next_open(YEAR, ms(2024, 1, 1)) == ms(2025, 1, 1)
    assert floor_open(WEEK, t) == ms(2024, 2, 26)  # a Monday
    assert dt(floor_open(WEEK, t)).weekday() == 0
    assert floor_open(parse_interval("4h"), t) == ms(2024, 2, 29, 12)
    assert floor_open(parse_interval("3d"), 0) == 0
    assert count_opens(MONTH, ms(2024, 1, 1), ms(2025, 1, 1)) == 12
    assert count_opens(YEAR, ms(2020, 6, 1), ms(2024, 1, 1)) == 3  # 2021, 2022, 2023
    assert list(opens(YEAR, ms(2020, 6, 1), ms(2024, 1, 1))) == [
        ms(2021, 1, 1),
        ms(2022, 1, 1),
        ms(2023, 1, 1),
    ]
    assert ceil_open(MONTH, ms(2024, 2, 1)) == ms(2024, 2, 1)
    assert ceil_open(MONTH, ms(2024, 2, 1) + 1) == ms(2024, 3, 1)
    assert nth_open(MONTH, ms(2024, 1, 15), 2) == ms(2024, 4, 1)


@given(tf=timeframes, t=times)
def test_floor_open_contains_t_and_is_idempotent(tf: Timeframe, t: int) -> None:
    start = floor_open(tf, t)
    assert floor_open(tf, start) == start
    assert start <= t < next_open(tf, start)
    assert next_open(tf, t) == next_open(tf, start)
    assert floor_open(tf, next_open(tf, start)) == next_open(tf, start)
    assert ceil_open(tf, t) in (start, next_open(tf, start))
    assert ceil_open(tf, t) >= t


@given(tf=timeframes, t=times)
def test_calendar_and_fixed_alignment_is_true(tf: Timeframe, t: int) -> None:
    start, after = dt(floor_open(tf, t)), dt(next_open(tf, floor_open(tf, t)))
    if tf is MONTH:
        assert (start.day, start.hour, start.minute, start.second) == (1, 0, 0, 0)
        assert (after.year * 12 + after.month) - (start.year * 12 + start.month) == 1
        assert after.day == 1
    elif tf is YEAR:
        assert (start.month, start.day, start.hour) == (1, 1, 0)
        assert after.year == start.year + 1
        assert (after.month, after.day) == (1, 1)
    else:
        assert (after - start) == timedelta(seconds=tf.interval)
        assert (floor_open(tf, t) - tf.anchor_ms) % (tf.interval * 1000) == 0
        if tf is WEEK:
            assert start.weekday() == 0
            assert start.hour == 0


@settings(max_examples=200)
@given(tf=timeframes, a=times, span=st.integers(min_value=0, max_value=3_000_000_000))
def test_opens_matches_count_and_steps(tf: Timeframe, a: int, span: int) -> None:
    if tf.interval <= 300:
        span //= 100  # keep lazily generated lists small for the minute timeframes
    b = a + span
    listed = list(itertools.islice(opens(tf, a, b), 200_001))
    assert len(listed) == count_opens(tf, a, b)
    assert all(a <= o < b for o in listed)
    assert all(floor_open(tf, o) == o for o in listed)
    assert all(next_open(tf, x) == y for x, y in itertools.pairwise(listed))
    if listed:
        assert listed[0] == ceil_open(tf, a)
        assert next_open(tf, listed[-1]) >= b
    assert count_opens(tf, b, a) == 0 or a == b
