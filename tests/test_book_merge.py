"""Merged book events for a slow consumer: applying what it takes equals applying everything,
whatever the sequence of snapshots, deltas and statuses and wherever it takes; memory bounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import BookEvent, Channel, OrderBook, StatusEvent, StatusKind
from woox_datasource.channels.book_merge import BookMerge

SYM = "PERP_BTC_USDT"
PRICES = st.builds(lambda q, pad: Decimal(f"{q / 4}{'00' * pad}"), st.integers(1, 24),
                   st.booleans())  # fmt: skip
SIZES = st.sampled_from([Decimal(0), Decimal("0.000")]) | st.integers(1, 10**4).map(Decimal)
LEVELS = st.lists(st.tuples(PRICES, SIZES), max_size=6).map(tuple)
KINDS = [StatusKind.RESYNCED, StatusKind.STALE, StatusKind.CONNECTED, StatusKind.RECONNECTING]


def status(kind: StatusKind, n: int = 0) -> StatusEvent:
    return StatusEvent(kind, SYM, reason=f"#{n}", channel=Channel.BOOK)


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[BookEvent | StatusEvent | None]]:
    """A stream's events with ``None`` where the consumer takes what waits."""
    depth = draw(st.integers(1, 6))
    out: list[BookEvent | StatusEvent | None] = []
    for i in range(draw(st.integers(1, 40))):
        what = draw(st.integers(0, 9))
        if i == 0 or what == 0:
            out.append(BookEvent(SYM, depth, i, True, draw(LEVELS), draw(LEVELS)))
        elif what <= 5:
            out.append(BookEvent(SYM, depth, i, False, draw(LEVELS), draw(LEVELS)))
        elif what <= 7:
            out.append(None)
        else:
            out.append(status(draw(st.sampled_from(KINDS)), i))
    return depth, out


@settings(max_examples=200, deadline=None)
@given(histories())
def test_applying_the_merge_equals_applying_the_sequence(
    case: tuple[int, list[BookEvent | StatusEvent | None]],
) -> None:
    _, history = case
    merge = BookMerge()
    truth = OrderBook()
    consumer = OrderBook()
    pushed: list[BookEvent | StatusEvent] = []
    for item in [*history, None]:
        if item is not None:
            merge.push(item)
            pushed.append(item)
            if isinstance(item, BookEvent):
                truth.apply(item)
            assert len(merge) <= 1 + len(KINDS)  # bounded however long nobody takes
            continue
        taken = merge.take()
        books = [e for e in taken if isinstance(e, BookEvent)]
        statuses = [e for e in taken if isinstance(e, StatusEvent)]
        assert len(books) <= 1
        book_events = [e for e in pushed if isinstance(e, BookEvent)]
        assert bool(books) == bool(book_events)
        if len(book_events) == 1:
            assert books[0] is book_events[0]  # nothing to merge: the event itself
        elif books and any(e.snapshot for e in book_events):
            assert books[0].snapshot  # a resync in between: the consumer's book is replaced
        for event in books:
            assert event.time == book_events[-1].time
            consumer.apply(event)
        assert (consumer.bids, consumer.asks, consumer.time) == (truth.bids, truth.asks,
                                                                  truth.time)  # fmt: skip
        # each kind's newest status is kept (resynced supersedes a waiting stale)
        newest = {}
        for e in pushed:
            if isinstance(e, StatusEvent):
                newest[e.kind] = e
                if e.kind is StatusKind.RESYNCED:
                    newest.pop(StatusKind.STALE, None)
        assert sorted(statuses, key=str) == sorted(newest.values(), key=str)
        pushed = []
    assert merge.take() == []


def ev(time: int, snapshot: bool, bids: tuple[tuple[str, str], ...], depth: int = 1) -> BookEvent:
    return BookEvent(SYM, depth, time, snapshot,
                     tuple((Decimal(p), Decimal(s)) for p, s in bids), ())  # fmt: skip


def test_a_level_pushed_out_of_the_window_in_between_is_deleted_in_the_merge() -> None:
    """Depth 1: 10 is pushed out by 11, then 11 goes. Applied one by one the book is empty; a
    plain union ({11: 0}) would leave 10 in the consumer's book."""
    merge = BookMerge()
    merge.push(ev(1, True, (("10", "1"),)))
    consumer = OrderBook()
    for event in merge.take():
        assert isinstance(event, BookEvent)
        consumer.apply(event)
    merge.push(ev(2, False, (("11", "1"),)))
    merge.push(ev(3, False, (("11", "0"),)))
    (merged,) = merge.take()
    assert isinstance(merged, BookEvent) and not merged.snapshot and merged.time == 3
    assert set(merged.bids) == {(Decimal(10), Decimal(0))}
    consumer.apply(merged)
    assert consumer.bids == ()
    assert merge.merged == 1


def test_statuses_keep_their_place_around_the_book_event() -> None:
    merge = BookMerge()
    merge.push(ev(1, True, (("10", "1"),)))
    merge.take()
    merge.push(ev(2, False, (("10", "2"),)))
    merge.push(ev(3, False, (("10", "3"),)))
    merge.push(status(StatusKind.STALE))
    taken = merge.take()
    assert [type(e).__name__ for e in taken] == ["BookEvent", "StatusEvent"]
    # stale, then a resync and its snapshot: only the resync and the snapshot remain
    merge.push(ev(4, False, (("10", "4"),)))
    merge.push(status(StatusKind.STALE, 1))
    merge.push(status(StatusKind.RESYNCED, 2))
    merge.push(ev(9, True, (("12", "1"),)))
    merge.push(ev(10, False, (("12", "2"),)))
    resynced, book = merge.take()
    assert isinstance(resynced, StatusEvent) and resynced.kind is StatusKind.RESYNCED
    assert isinstance(book, BookEvent) and book.snapshot and book.time == 10
    assert book.bids == ((Decimal(12), Decimal(2)),)


def test_a_delta_before_any_snapshot_is_refused() -> None:
    merge = BookMerge()
    with pytest.raises(ValueError, match="book delta came before any snapshot"):
        merge.push(ev(1, False, (("10", "1"),)))
    merge.push(ev(1, True, (("10", "1"),)))
    with pytest.raises(ValueError, match="depth-2 book event cannot update a depth-1 book"):
        merge.push(ev(2, False, (("10", "1"),), depth=2))
