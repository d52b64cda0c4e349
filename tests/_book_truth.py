"""A naive model of WOO X's book and the harness that checks a book sync against it.

:class:`Exchange` keeps the whole book as plain dicts and sends what the server sends: one delta
per change of its top-``depth`` window with a true ``prevTs`` chain (edge levels deleted and
re-inserted explicitly, or, in the other reading of the docs, only the changed prices), and REST
snapshots whose ``timestamp`` is the last change (possibly older, possibly deeper than asked).
:func:`run` drives a sync machine through a :class:`Script` of changes, deliveries with faults
(lost, duplicated, swapped) and REST answers (fresh, lagging, deep, failed, spanning), and
returns the first broken promise, or None. The checks, after every event:

* the consumer's :class:`OrderBook` (applying every ``BookEvent``) equals the exchange's
  top-``depth`` book as of the event's ``time``, number by number, and the machine's own book
  equals the consumer's;
* book events never go back in time; the first is a snapshot; ``resynced`` is always followed by
  a snapshot; after ``stale`` the next book event is a ``resynced`` snapshot;
* a lost delta that the consumer's book had not yet passed is never bridged: the first book event
  past it is a ``resynced`` snapshot;
* ``stale`` is reported once ``stale_after`` REST answers in a row failed to sync the book;
* at the end (faults off, fresh REST) the book is synced and current.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs
import msgspec

from host_stub.spec import BookEvent, Level, OrderBook, StatusEvent, StatusKind, StreamEvent
from woox_datasource.channels.book_sync import BookSync, _Book
from woox_datasource.wire import BookUpdate

SYM = "PERP_BTC_USDT"
BID_PRICES = range(1, 31)
ASK_PRICES = range(11, 41)
"""Overlapping grids (quarters of a unit), so a lost delta can leave a local book crossed."""


def price(i: int) -> Decimal:
    return Decimal(i) / 4


def rest_spelling(value: Decimal) -> Decimal:
    """REST spells numbers with trailing zeros (``"0.500"`` for the socket's ``"0.5"``)."""
    return value.quantize(Decimal("0.001"))


Sizes = dict[Decimal, Decimal]
Change = tuple[bool, int, int]
"""(bid side, price index, size; 0 deletes)."""


def _top(side: dict[Decimal, Decimal], bids: bool, n: int) -> tuple[Level, ...]:
    return tuple(sorted(side.items(), reverse=bids)[:n])


class Exchange:
    """The whole book, its window history and the frames a WOO X server would send."""

    def __init__(self, depth: int, explicit_edges: bool, changes: Sequence[Change],
                 symbol: str = SYM, rpi: bool = False) -> None:  # fmt: skip
        self.depth = depth
        self.symbol = symbol
        self.rpi = rpi
        self.explicit_edges = explicit_edges
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.time = 1_000
        for change in changes:
            self._set(*change)
        self.full: dict[int, tuple[tuple[Level, ...], tuple[Level, ...]]] = {}
        """Chain point -> the whole book then (what REST reads)."""
        self.chain: list[int] = [self.time]
        self._record()

    def _set(self, bid: bool, index: int, size: int) -> bool:
        side = self.bids if bid else self.asks
        p = price(index)
        old = side.get(p)
        if size:
            side[p] = Decimal(size) / 1000
        else:
            side.pop(p, None)
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            if old is None:
                side.pop(p, None)
            else:
                side[p] = old
            return False
        return True

    def _record(self) -> None:
        self.full[self.time] = (_top(self.bids, True, 10**6), _top(self.asks, False, 10**6))

    def as_of(self, at: int) -> int:
        """The chain point whose book is the book at ``at`` (the last change at or before)."""
        i = bisect_right(self.chain, at)
        if i == 0:
            raise Broken(f"{at} is before the exchange's first book")
        return self.chain[i - 1]

    def window(self, at: int | None = None) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """The top-``depth`` book as of ``at`` (now if None)."""
        bids, asks = self.full[self.time if at is None else self.as_of(at)]
        return bids[: self.depth], asks[: self.depth]

    def touch_best(self, n: int) -> BookUpdate | None:
        """Change the best level of one side (a change the window always shows)."""
        bid = n % 2 == 0
        side = self.bids if bid else self.asks
        if side:
            index = int((max(side) if bid else min(side)) * 4)
        else:
            other = self.asks if bid else self.bids
            index = (int(min(other) * 4) - 1 if bid else int(max(other) * 4) + 1) if other else 20
        return self.step(1, ((bid, index, 1 + n % 97),))

    def step(self, dt: int, changes: Sequence[Change]) -> BookUpdate | None:
        """Apply changes ``dt`` ms later; the delta the server sends, or None if the window did
        not change (no frame, no new chain point)."""
        old_bids, old_asks = (dict(side) for side in self.window())
        touched = [(bid, price(i)) for bid, i, size in changes if self._set(bid, i, size)]
        new_bids = dict(_top(self.bids, True, self.depth))
        new_asks = dict(_top(self.asks, False, self.depth))
        delta_bids = self._delta(old_bids, new_bids, [p for bid, p in touched if bid], self.bids)
        delta_asks = self._delta(old_asks, new_asks, [p for bid, p in touched if not bid],
                                 self.asks)  # fmt: skip
        if not delta_bids and not delta_asks:
            return None
        prev, self.time = self.time, self.time + dt
        self.chain.append(self.time)
        self._record()
        return BookUpdate(self.symbol, self.depth, self.rpi, prev, self.time, delta_bids,
                          delta_asks)  # fmt: skip

    def _delta(self, old: Sizes, new: Sizes, touched: list[Decimal], side: Sizes
               ) -> tuple[Level, ...]:  # fmt: skip
        zero = Decimal(0)
        if self.explicit_edges:  # the window's difference, edges included
            levels = [(p, s) for p, s in new.items() if old.get(p) != s]
            levels += [(p, zero) for p in old if p not in new]
        else:  # only changed prices inside the window before or after; nothing at the edge
            levels = [(p, side.get(p, zero)) for p in dict.fromkeys(touched)
                      if (p in old or p in new) and old.get(p) != side.get(p)]  # fmt: skip
        return tuple(levels)

    def rest(self, max_level: int, lag: int = 0, *, span: bool = False) -> BookEvent:
        """The REST book ``lag`` chain points back, cut at ``max_level``. ``span``: timestamped
        inside the delta that follows that point (1 ms after it, the same book), which is what
        an aggregated depth's REST book may be if its ``timestamp`` is no delta's ``ts``; a
        fresh book if no delta is long enough to have an inside."""
        i = max(0, len(self.chain) - 1 - lag)
        if span:
            while i > 0 and not self.chain[i] - self.chain[i - 1] >= 2:
                i -= 1
            span = i > 0
            i = i - 1 if span else len(self.chain) - 1
        at = self.chain[i]
        bids, asks = self.full[at]
        if span:
            at += 1
        cut = [tuple((rest_spelling(p), rest_spelling(s)) for p, s in side[:max_level])
               for side in (bids, asks)]  # fmt: skip
        return BookEvent(self.symbol, self.depth, at, True, cut[0], cut[1])


# ---- the script -----------------------------------------------------------------------------


@attrs.frozen
class Step:
    dt: int
    changes: tuple[Change, ...]


@attrs.frozen
class Deliver:
    fault: str = ""
    """"" (in order), "lose", "dup" (twice), "swap" (the next one first)."""


@attrs.frozen
class Rest:
    mode: str = "fresh"
    """"fresh", "lag" (``lag`` chain points old), "fail", "span" (timestamped inside a delta
    ``lag`` chain points old: what aggregated depths may answer)."""
    lag: int = 0
    deep: bool = False
    """2×depth+3 levels instead of ``depth`` (the exchange ignoring ``maxLevel``)."""


@attrs.frozen
class Audit:
    pass


@attrs.frozen
class Reconnect:
    """The socket drops (frames in flight lost), ``missed`` changes happen, it resubscribes."""

    missed: tuple[Step, ...] = ()


Op = Step | Deliver | Rest | Audit | Reconnect


@attrs.frozen
class Script:
    depth: int
    explicit_edges: bool
    initial: tuple[Change, ...]
    before: tuple[Step, ...]
    """Changes before the subscription (their frames are never received)."""
    ops: tuple[Op, ...]


class Broken(AssertionError):
    """A promise of the book was broken (the message says which)."""


# ---- the harness ----------------------------------------------------------------------------


class _Run:
    def __init__(self, sync: BookSync, exchange: Exchange) -> None:
        self.sync = sync
        self.exchange = exchange
        self.consumer = OrderBook()
        self.queue: deque[BookUpdate] = deque()
        self.pending = False
        self.stale_seen = False
        self.misses = 0
        self.lost: list[BookUpdate] = []
        self.resyncs_announced = 0
        self.events: list[StreamEvent] = []

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            raise Broken(f"{message} (events so far: {len(self.events)})")

    def deliver(self, update: BookUpdate) -> None:
        self.output(self.sync.on_delta(update))

    def output(self, events: list[StreamEvent]) -> None:
        for i, event in enumerate(events):
            self.events.append(event)
            if isinstance(event, StatusEvent):
                if event.kind is StatusKind.RESYNCED:
                    nxt = events[i + 1] if i + 1 < len(events) else None
                    self.check(isinstance(nxt, BookEvent) and nxt.snapshot,
                               "resynced not followed by a snapshot")  # fmt: skip
                    self.resyncs_announced += 1
                elif event.kind is StatusKind.STALE:
                    self.stale_seen = True
                continue
            assert isinstance(event, BookEvent)
            self.book_event(event, events[i - 1] if i else None)

    def book_event(self, event: BookEvent, before: StreamEvent | None) -> None:
        consumer = self.consumer
        resynced = isinstance(before, StatusEvent) and before.kind is StatusKind.RESYNCED
        if consumer.time is None:
            self.check(event.snapshot, "the first book event is not a snapshot")
        else:
            self.check(event.time >= consumer.time, f"book went back in time to {event.time}")
        if self.stale_seen:
            self.check(event.snapshot and resynced, "a stale book resumed without a resync")
        for update in self.lost:
            if consumer.time is not None and consumer.time <= update.prev_ts < event.time:
                lost = f"{update.prev_ts}->{update.ts}"
                self.check(
                    event.snapshot and resynced, f"a delta after the lost {lost} was bridged"
                )
        self.lost = [u for u in self.lost if u.ts > event.time]
        consumer.apply(event)
        truth = self.exchange.window(event.time)
        self.check(consumer.bids == truth[0] and consumer.asks == truth[1],
                   f"book at {event.time} differs from the exchange's: {consumer.bids} "
                   f"{consumer.asks} != {truth}")  # fmt: skip
        if event.snapshot:
            self.stale_seen = False
            self.misses = 0

    def after_op(self) -> None:
        sync = self.sync
        book = sync.book
        if book is not None:
            self.check(book.bids == self.consumer.bids and book.asks == self.consumer.asks,
                       "the machine's book is not the consumer's")  # fmt: skip
            self.check(sync.last_ts == self.consumer.time, "machine and consumer times differ")
        fetch = sync.take_fetch()
        if fetch is not None:
            self.check(not self.pending, "a second snapshot was asked for while one is pending")
            self.pending = True
        if book is None:
            self.check(self.pending, "unsynced and no snapshot asked for: stuck")

    def rest(self, op: Rest) -> None:
        if not self.pending:
            return
        self.pending = False
        sync, exchange = self.sync, self.exchange
        was_synced = sync.synced
        if op.mode == "fail":
            events = sync.on_snapshot_failed("HTTP 500")
        else:
            depth = exchange.depth * 2 + 3 if op.deep else exchange.depth
            lag = op.lag if op.mode in ("lag", "span") else 0
            events = sync.on_snapshot(exchange.rest(depth, lag, span=op.mode == "span"))
        synced_now = any(isinstance(e, BookEvent) for e in events)
        self.output(events)
        if not was_synced:
            self.misses = 0 if synced_now else self.misses + 1
            if self.misses >= sync.options.stale_after:
                self.check(self.stale_seen or any(
                    isinstance(e, StatusEvent) and e.kind is StatusKind.STALE for e in self.events
                ), f"{self.misses} snapshots missed and no stale reported")  # fmt: skip
                self.check(sync.stale, "the machine does not say it is stale")

    def step(self, step: Step, *, live: bool = True) -> None:
        update = self.exchange.step(step.dt, step.changes)
        if update is not None:
            if live:
                self.queue.append(update)
            else:
                self.lost.append(update)

    def deliver_op(self, op: Deliver) -> None:
        queue = self.queue
        if not queue:
            return
        if op.fault == "swap" and len(queue) > 1:
            queue[0], queue[1] = queue[1], queue[0]
        update = queue.popleft()
        if op.fault == "lose":
            self.lost.append(update)
            return
        self.deliver(update)
        if op.fault == "dup":
            self.deliver(update)


def run(make: Callable[[int], BookSync], script: Script, *, finish: bool = True) -> None:
    """Drive a sync (``make(depth)``) through ``script``; :class:`Broken` names the first broken
    promise."""
    exchange = Exchange(script.depth, script.explicit_edges, script.initial)
    for step in script.before:
        exchange.step(step.dt, step.changes)
    sync = make(script.depth)
    harness = _Run(sync, exchange)
    sync.on_subscribed()
    harness.after_op()
    for op in script.ops:
        if isinstance(op, Step):
            harness.step(op)
        elif isinstance(op, Deliver):
            harness.deliver_op(op)
        elif isinstance(op, Rest):
            harness.rest(op)
        elif isinstance(op, Audit):
            sync.request_audit()
        else:
            harness.lost.extend(harness.queue)
            harness.queue.clear()
            for step in op.missed:
                harness.step(step, live=False)
            sync.on_subscribed()
        harness.after_op()
    if finish:
        _finish(harness)


def _finish(harness: _Run) -> None:
    """Faults off: everything in flight arrives, the exchange keeps changing (so a lost delta
    shows), REST answers fresh; the book must end synced and current."""
    sync, exchange = harness.sync, harness.exchange
    for i in range(40):
        while harness.queue:
            harness.deliver_op(Deliver())
            harness.after_op()
        if sync.synced and sync.last_ts == exchange.time and not harness.pending:
            break
        if i % 2 == 0:
            update = exchange.touch_best(i)
            if update is not None:
                harness.queue.append(update)
            continue
        harness.rest(Rest())
        harness.after_op()
    harness.check(sync.synced and sync.last_ts == exchange.time,
                  f"not synced and current at the end (at {sync.last_ts}, exchange at "
                  f"{exchange.time})")  # fmt: skip
    harness.check(harness.consumer.bids == exchange.window()[0]
                  and harness.consumer.asks == exchange.window()[1],
                  "the consumer's book is not the exchange's at the end")  # fmt: skip


def violation(make: Callable[[int], BookSync], script: Script) -> str | None:
    """The first promise ``make``'s machine breaks on ``script``, or None."""
    try:
        run(make, script)
    except Broken as broken:
        return str(broken)
    return None


# ---- planted bugs (the property tests must catch them) --------------------------------------


class SkipsPrevTs(BookSync):
    """ccxt's book: any delta newer than the book is applied; the seed replays every buffered
    delta newer than the snapshot."""

    def on_delta(self, update: BookUpdate) -> list[StreamEvent]:
        last = self.last_ts
        if last is not None and update.ts > last:
            update = msgspec.structs.replace(update, prev_ts=last)
        return super().on_delta(update)

    def _chain(self, start: int) -> list[BookUpdate]:
        newer = (u for u in self._buffer.values() if u.ts > start)
        return sorted(newer, key=lambda u: u.ts)


class _DeepBook(_Book):
    __slots__ = ()

    def apply(self, event: BookEvent) -> None:
        assert self.depth is not None
        super().apply(attrs.evolve(event, depth=self.depth))


class SeedsDeep(BookSync):
    """A book seeded with every level REST returned (ccxt asks for 1000 with a 50-level stream)."""

    def _new_book(self, snapshot: BookEvent) -> _Book:
        book = _DeepBook(max(self.depth, len(snapshot.bids), len(snapshot.asks)), self.symbol)
        book.apply(snapshot)
        return book
