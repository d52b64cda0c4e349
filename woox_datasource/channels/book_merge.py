"""What a slow consumer of one book has not taken yet, merged: bounded, and no change lost.

A consumer that falls behind a busy book must not make memory grow, and must not miss a change
either: dropping a delta would leave its book wrong for good. :class:`BookMerge` keeps, per
consumer, the book as the consumer has it (``base``: everything it took) and the book as it
should be (``current``). Whatever piled up in between is handed out as **one** book event:

* the event itself when only one is waiting (the common case: nothing to merge);
* a snapshot of ``current`` when a snapshot is among them (a resync happened in between: the
  consumer's book is replaced, as the resync replaced ours);
* otherwise one delta: every price whose size differs between ``base`` and ``current`` with its
  newest size (0 for a price gone, including one a better level pushed out of the ``depth``
  window meanwhile). That is the union of the waiting changes, newest size per price, minus
  changes that undid themselves; applying it with :class:`~host_stub.spec.OrderBook` gives
  exactly what applying every waiting event would have given.

Status events keep their order around the book event, except that a newer status of a kind
replaces a waiting one of that kind (``resynced`` also replaces a waiting ``stale``: the book is
live again), and a waiting delta merges forward into later book events. So however long the
consumer stalls, at most one book event and one status per kind wait: two books of ``depth``
levels per side, whatever the run time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from host_stub.spec import BookEvent, Level, OrderBook, StatusEvent, StatusKind

_ZERO: Final = Decimal(0)


def _snapshot(book: OrderBook) -> BookEvent:
    assert book.symbol is not None and book.depth is not None and book.time is not None
    return BookEvent(book.symbol, book.depth, book.time, True, book.bids, book.asks)


def _changes(old: tuple[Level, ...], new: tuple[Level, ...]) -> tuple[Level, ...]:
    before = dict(old)
    after = dict(new)
    changed = [(price, size) for price, size in new if before.get(price) != size]
    changed.extend((price, _ZERO) for price in before if price not in after)
    return tuple(changed)


class BookMerge:
    """The waiting events of one consumer of one book stream (see the module docstring)."""

    __slots__ = ("_base", "_current", "_items", "_merged", "_replaced", "_waiting", "merged")

    def __init__(self) -> None:
        self._base: OrderBook | None = None
        """The consumer's book: every book event taken so far, applied."""
        self._current: OrderBook | None = None
        """The book after every waiting event; built only once two are waiting."""
        self._waiting: BookEvent | None = None
        """The one waiting book event, while it is one."""
        self._merged = 0
        """Book events waiting (merged into ``_current`` once there are two)."""
        self._replaced = False
        """A snapshot is among the waiting book events."""
        self._items: list[StatusEvent | None] = []
        """Waiting events in delivery order; None is the place of the (merged) book event."""
        self.merged = 0
        """Book events folded into others so far (a measure of how far behind the consumer
        is)."""

    def __len__(self) -> int:
        return len(self._items)

    def push(self, event: BookEvent | StatusEvent) -> None:
        """Add one event of the stream, in the stream's order."""
        items = self._items
        if type(event) is StatusEvent:
            kind = event.kind
            superseded = (kind, StatusKind.STALE) if kind is StatusKind.RESYNCED else (kind,)
            self._items = items = [i for i in items if i is None or i.kind not in superseded]
            items.append(event)
            return
        assert type(event) is BookEvent
        if self._merged == 0:
            if self._base is None and not event.snapshot:
                raise ValueError(f"a {event.symbol} book delta came before any snapshot")
            self._waiting = event
            self._replaced = event.snapshot
            self._merged = 1
            items.append(None)
            return
        current = self._current
        if current is None:
            current = self._current = OrderBook()
            if self._base is not None:
                current.apply(_snapshot(self._base))
            waiting = self._waiting
            assert waiting is not None
            current.apply(waiting)
            self._waiting = None
        current.apply(event)
        self._merged += 1
        self.merged += 1
        if event.snapshot:
            self._replaced = True
            items.remove(None)
            items.append(None)

    def take(self) -> list[BookEvent | StatusEvent]:
        """Everything waiting, merged, in order (empty if nothing waits)."""
        items = self._items
        if not items:
            return []
        self._items = []
        book = self._book_event()
        events: list[BookEvent | StatusEvent] = []
        for item in items:
            if item is None:
                assert book is not None
                events.append(book)
            else:
                events.append(item)
        return events

    def _book_event(self) -> BookEvent | None:
        """The one event taking the consumer's book to ``current``; ``base`` follows it."""
        count, self._merged = self._merged, 0
        if count == 0:
            return None
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            base = self._base
            if base is None:
                base = self._base = OrderBook()
            base.apply(waiting)
            return waiting
        current = self._current
        base = self._base
        assert current is not None
        self._base, self._current = current, None
        snapshot = _snapshot(current)
        if self._replaced or base is None:
            return snapshot
        bids, asks = _changes(base.bids, snapshot.bids), _changes(base.asks, snapshot.asks)
        return BookEvent(snapshot.symbol, snapshot.depth, snapshot.time, False, bids, asks)
