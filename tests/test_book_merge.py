"""Merged book events for a slow consumer: applying what it takes equals applying everything,
whatever the sequence of snapshots and deltas and wherever it takes; memory bounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import BookEvent, OrderBook
from woox_datasource.channels.book_merge import BookMerge

SYM = "PERP_BTC_USDT"
PRICES = st.builds(lambda q, pad: Decimal(f"{q / 4}{'00' * pad}"), st.integers(1, 24),
                   st.booleans())  # fmt: skip
SIZES = st.sampled_from([Decimal(0), Decimal("0.000")]) | st.integers(1, 10**4).map(Decimal)
LEVELS = st.lists(st.tuples(PRICES, SIZES), max_size=6).map(tuple)


@st.composite
def histories(draw: st.DrawFn) -> list[BookEvent | None]:
    """A stream's book events with ``None`` where the consumer takes what waits."""
    depth = draw(st.integers(1, 6))
    out: list[BookEvent | None] = []
    for i in range(draw(st.integers(1, 40))):
        what = draw(st.integers(0, 8))
        if i == 0 or what == 0:
            out.append(BookEvent(SYM, depth, i, True, draw(LEVELS), draw(LEVELS)))
        elif what <= 6:
            out.append(BookEvent(SYM, depth, i, False, draw(LEVELS), draw(LEVELS)))
        else:
            out.append(None)
    return out


@settings(max_examples=300, deadline=None)
@given(histories())
def test_applying_the_merge_equals_applying_the_sequence(history: list[BookEvent | None]) -> None:
    merge = BookMerge()
    truth = OrderBook()
    consumer = OrderBook()
    pushed: list[BookEvent] = []
    for item in [*history, None]:
        if item is not None:
            assert merge.push(item) == bool(pushed)
            pushed.append(item)
            truth.apply(item)
            continue
        taken = merge.take()
        assert (taken is None) == (not pushed)
        if taken is not None:
            if len(pushed) == 1:
                assert taken is pushed[0]  # nothing to merge: the event itself
            elif any(e.snapshot for e in pushed):
                assert taken.snapshot  # a resync in between: the consumer's book is replaced
            assert taken.time == pushed[-1].time
            consumer.apply(taken)
        assert (consumer.bids, consumer.asks, consumer.time) == (truth.bids, truth.asks,
                                                                  truth.time)  # fmt: skip
        assert not merge.waiting
        pushed = []


def ev(time: int, snapshot: bool, bids: tuple[tuple[str, str], ...], depth: int = 1) -> BookEvent:
    return BookEvent(SYM, depth, time, snapshot,
                     tuple((Decimal(p), Decimal(s)) for p, s in bids), ())  # fmt: skip


def test_a_level_pushed_out_of_the_window_in_between_is_deleted_in_the_merge() -> None:
    """Depth 1: 10 is pushed out by 11, then 11 goes. Applied one by one the book is empty; a
    plain union ({11: 0}) would leave 10 in the consumer's book."""
    merge = BookMerge()
    merge.push(ev(1, True, (("10", "1"),)))
    consumer = OrderBook()
    first = merge.take()
    assert first is not None
    consumer.apply(first)
    merge.push(ev(2, False, (("11", "1"),)))
    merge.push(ev(3, False, (("11", "0"),)))
    merged = merge.take()
    assert merged is not None and not merged.snapshot and merged.time == 3
    assert set(merged.bids) == {(Decimal(10), Decimal(0))}
    consumer.apply(merged)
    assert consumer.bids == ()
    assert merge.merged == 1


def test_a_delta_before_any_snapshot_is_refused() -> None:
    merge = BookMerge()
    with pytest.raises(ValueError, match="book delta came before any snapshot"):
        merge.push(ev(1, False, (("10", "1"),)))
    merge.push(ev(1, True, (("10", "1"),)))
    with pytest.raises(ValueError, match="depth-2 book event cannot update a depth-1 book"):
        merge.push(ev(2, False, (("10", "1"),), depth=2))
