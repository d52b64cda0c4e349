"""The book events a slow consumer has not taken yet, as one: bounded, and no change lost.

A consumer that falls behind a busy book must not make memory grow, and must not miss a change
either: dropping a delta would leave its book wrong for good. :class:`BookMerge` keeps, per
consumer, the book as the consumer has it (``base``: everything it took) and the book as it
should be (``current``). Whatever piled up in between is handed out as **one** book event:

* the event itself when only one is waiting (the common case: nothing to merge);
* a snapshot of ``current`` when a snapshot is among them (a resync happened in between: the
  consumer's book is replaced, as the resync replaced ours);
* otherwise one delta: every price whose size differs between ``base`` and ``current`` with its
  newest size (0 for a price gone, including one a better level pushed out of the ``depth``
  window meanwhile, which a plain union of the deltas would leave behind). That is the union of
  the waiting changes, newest size per price, minus changes that undid themselves; applying it
  with :class:`~host_stub.spec.OrderBook` gives exactly what applying every waiting event would
  have given.

Memory: two books of ``depth`` levels per side, however long the consumer stalls. Where the
merged event waits among status events is the stream's business (``book_stream``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from host_stub.spec import BookEvent, Level, OrderBook

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
    """The book events one consumer of one book stream has not taken (see the module
    docstring). :meth:`push` each event in order; :meth:`take` when the consumer wants one."""

    __slots__ = ("_base", "_current", "_replaced", "_waiting", "_waiting_count", "merged")

    def __init__(self) -> None:
        self._base: OrderBook | None = None
        """The consumer's book: every book event taken so far, applied."""
        self._current: OrderBook | None = None
        """The book after every waiting event; built only once two are waiting."""
        self._waiting: BookEvent | None = None
        """The one waiting book event, while it is one."""
        self._waiting_count = 0
        self._replaced = False
        """A snapshot is among the waiting events."""
        self.merged = 0
        """Book events folded into others so far (how far behind the consumer has been)."""

    @property
    def waiting(self) -> bool:
        return self._waiting_count > 0

    def push(self, event: BookEvent) -> bool:
        """Add the stream's next book event; True if it was merged into one already waiting."""
        if self._waiting_count == 0:
            if self._base is None and not event.snapshot:
                raise ValueError(f"a {event.symbol} book delta came before any snapshot")
            self._waiting = event
            self._replaced = event.snapshot
            self._waiting_count = 1
            return False
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
        self._waiting_count += 1
        self.merged += 1
        self._replaced = self._replaced or event.snapshot
        return True

    def take(self) -> BookEvent | None:
        """The one event taking the consumer's book to the newest state (None if none waits);
        ``base`` follows it."""
        if self._waiting_count == 0:
            return None
        self._waiting_count = 0
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            base = self._base
            if base is None:
                base = self._base = OrderBook()
            base.apply(waiting)
            return waiting
        current, base = self._current, self._base
        assert current is not None
        self._base, self._current = current, None
        snapshot = _snapshot(current)
        if self._replaced or base is None:
            return snapshot
        bids, asks = _changes(base.bids, snapshot.bids), _changes(base.asks, snapshot.asks)
        return BookEvent(snapshot.symbol, snapshot.depth, snapshot.time, False, bids, asks)
