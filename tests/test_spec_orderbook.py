"""``spec.OrderBook``, the reference meaning of a BookEvent: any sequence of snapshots and deltas
gives what a naive dict model truncated to depth gives; exact Decimal keys; clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import BookEvent, Level, OrderBook

SYM = "PERP_BTC_USDT"

# Few distinct prices so that deltas hit existing levels, delete them and re-insert them; each
# price in two spellings ("1.5" and "1.50") so that exact-key handling is exercised too.
PRICES = st.builds(
    lambda q, pad: Decimal(f"{q / 4}{'00' * pad}"), st.integers(1, 40), st.booleans()
)
SIZES = st.builds(lambda n, zero: Decimal("0.000") if zero else Decimal(n) / 1000,
                  st.integers(0, 10**6), st.booleans())  # fmt: skip
LEVELS = st.lists(st.tuples(PRICES, SIZES), max_size=8).map(tuple)


@st.composite
def sequences(draw: st.DrawFn) -> tuple[int, list[BookEvent]]:
    depth = draw(st.integers(1, 8))
    n = draw(st.integers(1, 20))
    events = []
    for i in range(n):
        snapshot = i == 0 or draw(st.integers(0, 7)) == 0
        events.append(BookEvent(SYM, depth, i, snapshot, draw(LEVELS), draw(LEVELS)))
    return depth, events


class Naive:
    """The definition, written the obvious way: dicts keyed by the numeric value."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, event: BookEvent) -> tuple[list[Level], list[Level]]:
        if event.snapshot:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, event.bids), (self.asks, event.asks)):
            for price, size in levels:
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
        self.asks = dict(sorted(self.asks.items())[: self.depth])
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_any_sequence_equals_the_naive_model_truncated_to_depth(
    case: tuple[int, list[BookEvent]],
) -> None:
    depth, events = case
    book = OrderBook()
    model = Naive(depth)
    for event in events:
        book.apply(event)
        bids, asks = model.apply(event)
        assert list(book.bids) == bids
        assert list(book.asks) == asks
        assert book.best_bid == (bids[0] if bids else None)
        assert book.best_ask == (asks[0] if asks else None)
        assert book.time == event.time
        assert book.crossed == bool(bids and asks and bids[0][0] >= asks[0][0])


def d(text: str) -> Decimal:
    return Decimal(text)


def test_two_spellings_of_one_price_are_one_level() -> None:
    book = OrderBook(depth=50)
    book.apply(BookEvent(SYM, 50, 1, True, ((d("0.00020"), d("5")),), ((d("0.0003"), d("1")),)))
    book.apply(BookEvent(SYM, 50, 2, False, ((d("0.0002"), d("7")),), ((d("0.00030"), d("0")),)))
    assert book.bids == ((d("0.0002"), d("7")),)
    assert book.asks == ()
    assert book.best_ask is None


def test_depth_window_keeps_the_best_levels_per_side() -> None:
    book = OrderBook()
    bids = tuple((d(str(p)), d("1")) for p in range(1, 6))
    asks = tuple((d(str(p)), d("1")) for p in range(10, 15))
    book.apply(BookEvent(SYM, 3, 1, True, bids, asks))
    assert [p for p, _ in book.bids] == [5, 4, 3]
    assert [p for p, _ in book.asks] == [10, 11, 12]
    assert book.depth == 3


def test_a_snapshot_replaces_everything() -> None:
    book = OrderBook()
    book.apply(BookEvent(SYM, 50, 1, True, ((d("1"), d("1")),), ((d("2"), d("1")),)))
    book.apply(BookEvent(SYM, 50, 2, True, ((d("1.5"), d("3")),), ()))
    assert book.bids == ((d("1.5"), d("3")),)
    assert book.asks == ()


def test_mixed_up_streams_are_refused_not_applied() -> None:
    book = OrderBook()
    with pytest.raises(ValueError, match="delta arrived before any snapshot"):
        book.apply(BookEvent(SYM, 50, 1, False, (), ()))
    book.apply(BookEvent(SYM, 50, 1, True, ((d("1"), d("1")),), ()))
    with pytest.raises(ValueError, match="a SPOT_BTC_USDT book event cannot update the PERP"):
        book.apply(BookEvent("SPOT_BTC_USDT", 50, 2, False, (), ()))
    with pytest.raises(ValueError, match="depth-200 book event cannot update a depth-50 book"):
        book.apply(BookEvent(SYM, 200, 2, False, (), ()))
    with pytest.raises(ValueError, match="negative size"):
        book.apply(BookEvent(SYM, 50, 2, False, ((d("2"), d("1")), (d("1"), d("-1"))), ()))
    assert book.bids == ((d("1"), d("1")),)  # a refused event changes nothing
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        OrderBook(depth=0)
