"""The finality/continuity state machine, alone: every push outcome, and a property test that
feeds it the pushes of a known candle series through lost, repeated and reordered deliveries."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import OHLCV
from woox_datasource.channels.candle_tracker import (
    DUPLICATE,
    FILL,
    FINAL,
    LATE,
    PROVISIONAL,
    STALE,
    CandleTracker,
    Fill,
)

STEP = 60_000
T0 = 1_700_000_040_000  # a minute boundary


def candle(i: int, close: int = 100, volume: int = 5) -> OHLCV:
    d = Decimal
    hi, lo = d(max(close, 100)), d(min(close, 100))
    return OHLCV("SPOT_BTC_USDT", 60, T0 + i * STEP, T0 + (i + 1) * STEP, d(100), hi, lo, d(close),
                 d(volume), d(volume * 100))  # fmt: skip


def mid(i: int) -> int:
    return T0 + i * STEP + STEP // 2


def end(i: int) -> int:
    return T0 + (i + 1) * STEP


def test_provisional_then_closing_push_is_final_once() -> None:
    t = CandleTracker()
    assert t.frontier is None
    assert t.on_push(candle(0, 101), mid(0)) == PROVISIONAL
    assert t.frontier == T0
    assert t.on_push(candle(0, 101), mid(0)) == DUPLICATE  # the same frame again
    assert t.on_push(candle(0, 101), mid(0) + 1) == PROVISIONAL  # a later, unchanged state
    assert t.on_push(candle(0, 102), mid(0) + 2) == PROVISIONAL
    assert t.on_push(candle(0, 103), end(0)) == FINAL
    assert t.last_final == candle(0, 103)
    assert t.frontier == end(0)
    assert t.on_push(candle(0, 103), end(0) + 5) == DUPLICATE
    assert t.on_push(candle(0, 104), end(0) + 5) == LATE
    assert t.on_push(candle(1, 100), mid(1)) == PROVISIONAL


def test_older_push_of_the_live_candle_is_stale() -> None:
    t = CandleTracker()
    t.on_push(candle(0, 105), mid(0) + 10)
    assert t.on_push(candle(0, 101), mid(0)) == STALE
    assert t.live == candle(0, 105)


def test_newer_candle_without_closing_push_asks_to_confirm_from_history() -> None:
    t = CandleTracker()
    t.on_push(candle(0, 101), mid(0))
    assert t.on_push(candle(1), mid(1)) == FILL
    assert t.pending == Fill(T0, end(0), candle(0, 101))
    assert t.pending.live_start == end(0)
    with pytest.raises(RuntimeError):
        t.on_push(candle(1), mid(1))
    result = t.apply_fill([candle(0, 107)])  # history's value wins over the last live one
    assert result.finals == [candle(0, 107)]
    assert result.holes == []
    assert t.on_push(candle(1), mid(1)) == PROVISIONAL


def test_jump_after_a_final_is_a_gap_filled_in_order() -> None:
    t = CandleTracker()
    assert t.on_push(candle(0), end(0)) == FINAL
    assert t.on_push(candle(4), mid(4)) == FILL
    assert t.pending == Fill(end(0), T0 + 4 * STEP)
    rows = [candle(3), candle(1), candle(9), candle(0), candle(1)]  # any order, extras ignored
    result = t.apply_fill(rows)
    assert result.finals == [candle(1), candle(3)]
    assert result.holes == [(end(1), end(2))]
    assert t.frontier == T0 + 4 * STEP
    assert t.on_push(candle(2), end(2)) == STALE
    assert t.on_push(candle(4), mid(4)) == PROVISIONAL


def test_fill_with_nothing_from_history_reports_the_whole_range() -> None:
    t = CandleTracker()
    t.on_push(candle(0), mid(0))
    t.on_push(candle(2), mid(2))
    result = t.apply_fill([])
    assert result.finals == []
    assert result.holes == [(T0, end(1))]
    assert t.frontier == end(1)
    with pytest.raises(RuntimeError):
        t.apply_fill([])


def test_first_push_may_be_a_closing_one() -> None:
    t = CandleTracker()
    assert t.on_push(candle(5), end(5) + 3) == FINAL
    assert t.on_push(candle(6), mid(6)) == PROVISIONAL


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int]], set[int]]:
    """(candles, pushes as (index, close, ts), candles missing from history)."""
    n = draw(st.integers(2, 25))
    pushes: list[tuple[int, int, int]] = []
    for i in range(n):
        for k in range(draw(st.integers(0, 3))):
            pushes.append((i, 100 + k, T0 + i * STEP + 1000 * (k + 1)))
        pushes.append((i, 100 + 2 * i % 7, end(i) + draw(st.integers(0, 500))))  # closing push
    kept = [p for p in pushes if draw(st.integers(0, 9)) >= 2]  # lose ~20%
    out: list[tuple[int, int, int]] = []
    for p in kept:  # repeat some, swap some neighbours
        out.append(p)
        if draw(st.integers(0, 9)) == 0:
            out.append(p)
    for j in range(len(out) - 1):
        if draw(st.integers(0, 14)) == 0:
            out[j], out[j + 1] = out[j + 1], out[j]
    missing = draw(st.sets(st.integers(0, n - 1), max_size=2))
    return n, out, missing


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_finals_are_exact_ordered_and_every_candle_accounted_for(
    case: tuple[int, list[tuple[int, int, int]], set[int]],
) -> None:
    n, pushes, missing = case
    truth = {i: candle(i, 100 + 2 * i % 7) for i in range(n)}
    history = [c for i, c in truth.items() if i not in missing]
    t = CandleTracker()
    finals: list[OHLCV] = []
    holes: list[tuple[int, int]] = []
    for i, close, ts in pushes:
        c = candle(i, close)
        code = t.on_push(c, ts)
        if code == FILL:
            result = t.apply_fill(history)
            finals.extend(result.finals)
            holes.extend(result.holes)
            code = t.on_push(c, ts)
            assert code != FILL
        if code == FINAL:
            finals.append(c)
        if code == PROVISIONAL:
            assert t.next_open is None or c.open_time >= t.next_open
    # every final is the exchange's final value, strictly increasing
    for f in finals:
        assert f == truth[(f.open_time - T0) // STEP]
    opens = [f.open_time for f in finals]
    assert opens == sorted(set(opens))
    # finals and holes tile the range from the first final/hole to the frontier without overlap
    spans = sorted([(f.open_time, f.close_time) for f in finals] + holes)
    for (_, a_end), (b_start, _) in itertools.pairwise(spans):
        assert a_end == b_start
    if spans:
        assert spans[-1][1] == t.frontier
    # a hole only ever covers candles history lacks
    for a, b in holes:
        for i in range((a - T0) // STEP, (b - T0) // STEP):
            assert i in missing
