"""The exact order book of one WOO X book topic: seeding, the ``prevTs`` chain, resync, staleness.

WOO X's ``orderbookupdate@SYM@DEPTH`` pushes deltas only; each names the ``ts`` of the delta
before it (``prevTs``) and the REST book's ``timestamp`` is the book's last change, the value a
delta's ``prevTs`` refers to (woox-api-streams.md §2). No surveyed client enforces that chain.
:class:`BookSync` does, from exchange timestamps alone, and never presents a book it cannot
prove current:

* Deltas are buffered from the subscription on. A REST snapshot at ``S`` seeds the book: buffered
  deltas with ``ts <= S`` are dropped, the chain must start at the delta whose ``prevTs == S``
  and run unbroken through every delta buffered after it. The buffered chain is folded into the
  one snapshot event delivered, so the first event is already as current as the socket.
* A snapshot behind the stream (the first remaining delta's ``prevTs`` is newer than ``S``, or a
  delta spans ``S``, or the buffered chain has a hole) is a *miss*: retried after a growing
  delay, the book reported ``stale`` once after a few misses (busy symbols' REST books lag the
  socket by tens of seconds). A snapshot with no delta after it is the current book of an idle
  symbol: synced as of ``S`` (a later delta whose ``prevTs`` is not ``S`` then reveals a missed
  change and resyncs).
* Synced, a delta is applied only if its ``prevTs`` is the last applied ``ts``; an older or equal
  ``ts`` is a duplicate and ignored; anything else is a break. A break, a crossed book, or a REST
  read that disagrees with the book drops the book (the socket and subscription stay): deltas are
  buffered again, a snapshot is asked for, and the rebuilt book is announced by
  ``StatusEvent(resynced)`` followed by a snapshot event. No delta is applied across a break.
* Every side keeps ``depth`` levels, exactly as :class:`host_stub.spec.OrderBook` (which this
  book *is*) does for the consumer: a REST reply deeper than ``depth`` is cut, never kept as deep
  levels no delta updates (ccxt's mistake).

A REST read while synced audits the book: at the book's own time it must agree level by level;
newer than the last delta, it is read again after ``confirm_delay`` and, if the chain has still
not reached it, a delta was lost (an idle symbol's change during a reconnect shows only this
way) and the book is rebuilt from it. Each resubscription asks for such a read.

What WOO X leaves UNCERTAIN (woox-api-streams.md §1.2, §2.4) is handled both ways:

* Edge updates (:class:`Edges`): whether the server deletes a level leaving the top-``depth``
  window and re-inserts one entering it. If it does, cutting to ``depth`` is a no-op and a short
  side is the exchange's. If it does not, a level pushed out is cut here as by the consumer, but
  when a deletion leaves a full side short, the level that re-entered the window is unknown:
  that is a break. ``AUTO`` starts cautious (a full side left short resyncs), trusts the window
  once a deletion is seen refilled from below, and switches for good to the second reading when
  a delta grows a side past ``depth`` (impossible if the server deletes at the edge).
* Spot deltas may never come: an idle book with no delta since subscribing whose REST read is
  newer than the book is resynced from REST and reported ``stale`` (``orderbook10`` is the pushed
  alternative).
* ``prevTs == timestamp`` may not hold for depths 200/500 (aggregated pushes): such snapshots
  never align, so the book stays ``stale`` (with the reason) rather than guessing; an idle book
  still seeds.
* A crossed book is taken as a missed change unless a fresh snapshot itself is crossed (the RPI
  book may legitimately cross): then crossing stops being a resync reason for that book.

The caller performs the REST reads this machine asks for (:meth:`BookSync.take_fetch`) and hands
back each answer exactly once (:meth:`BookSync.on_snapshot` / :meth:`BookSync.on_snapshot_failed`).
Memory is bounded: the book holds ``depth`` levels per side and the buffer ``buffer_limit`` deltas
(past it the oldest go, which at worst makes an old snapshot a miss: the chain is re-checked at
every seed, so a dropped delta can never be skipped silently).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Final

import attrs

from host_stub.spec import (
    BookEvent,
    Channel,
    Level,
    OrderBook,
    StatusEvent,
    StatusKind,
    StreamEvent,
)
from woox_datasource.wire import BookUpdate


class Edges(enum.StrEnum):
    """How to read a delta that leaves a full side short (see the module docstring)."""

    AUTO = "auto"
    """Cautious until the server shows how it treats the window edge, then as it does."""
    EXPLICIT = "explicit"
    """Trust the server to delete and re-insert at the window edge (a short side is real)."""
    IMPLICIT = "implicit"
    """The server sends nothing at the edge: a full side left short is a break."""


@attrs.frozen
class BookSyncOptions:
    """Tuning of :class:`BookSync`; the defaults suit WOO X as probed (REST lagging busy
    books by up to 47 s, deltas every 50 ms at depth 50)."""

    retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    """Seconds before the n-th retry of a snapshot that missed (the last one repeats)."""
    stale_after: int = 3
    """Misses in a row after which the book is reported ``stale``."""
    buffer_limit: int = 1024
    """Deltas kept while unsynced (~50 s of a busy depth-50 book); past it the oldest go."""
    confirm_delay: float = 1.0
    """Seconds before re-reading a REST book that is newer than the last delta, before calling
    that delta lost (a delta still in flight would have arrived by then)."""
    seed_delay: float = 0.25
    """Seconds between the subscription's ack and the first seed: a REST book read at the very
    moment of subscribing may predate changes the socket will never send (made before it took
    effect); seeded idle from it, the first delta would then reveal a break and cost a resync."""
    edges: Edges = Edges.AUTO
    check_crossed: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.retry_delays or min(self.retry_delays) < 0:
            raise ValueError(f"retry_delays must be non-negative seconds: {self.retry_delays}")
        if (self.stale_after < 1 or self.buffer_limit < 1 or self.confirm_delay < 0
                or self.seed_delay < 0):  # fmt: skip
            raise ValueError(f"invalid book sync options: {self!r}")


@attrs.frozen
class FetchSnapshot:
    """Read ``/v3/public/orderbook`` (``maxLevel`` = depth, matching ``rpi``) after ``delay``
    seconds and hand the answer to :meth:`BookSync.on_snapshot`. ``audit``: the book is synced
    and the read only checks it (low priority)."""

    delay: float
    reason: str
    audit: bool = False


_UNKNOWN: Final = 0
_EXPLICIT: Final = 1
_IMPLICIT: Final = 2
"""What the server has shown about the window edge (:class:`Edges`)."""


class _Book(OrderBook):
    """:class:`OrderBook` (so the state is the consumer's by construction) plus what the edge
    rules need to know about a delta before it is applied."""

    __slots__ = ()

    def side_len(self, bids: bool) -> int:
        return len(self._bid_prices if bids else self._ask_prices)

    def growth(self, levels: tuple[Level, ...], bids: bool) -> tuple[int, int]:
        """(levels this would insert, levels it would delete) on one side."""
        sizes = self._bids if bids else self._asks
        inserted = deleted = 0
        for price, size in levels:
            if size:
                if price not in sizes:
                    inserted += 1
            elif price in sizes:
                deleted += 1
        return inserted, deleted

    def worst(self, bids: bool) -> Decimal | None:
        prices = self._bid_prices if bids else self._ask_prices
        if not prices:
            return None
        return prices[0] if bids else prices[-1]


_NO_DELTAS: Final = (
    "no delta has arrived since subscribing although the REST book changed: WOO X may not push "
    "book deltas for this symbol (UNCERTAIN for spot); the book is only as current as the last "
    "REST read (orderbook10 is pushed)"
)


def _status(kind: StatusKind, symbol: str, reason: str) -> StatusEvent:
    return StatusEvent(kind, symbol, reason=reason, channel=Channel.BOOK)


class BookSync:
    """The sync state machine of one (symbol, depth, rpi) book (see the module docstring).

    Inputs: :meth:`on_subscribed` (each subscription ack), :meth:`on_delta` (each push),
    :meth:`on_snapshot` / :meth:`on_snapshot_failed` (the answer to each :class:`FetchSnapshot`
    taken from :meth:`take_fetch`). Outputs: the events to deliver, in order."""

    __slots__ = (
        "_awaiting", "_book", "_buffer", "_cause", "_check_crossed", "_edge_mode",
        "_ever_synced", "_fetch", "_horizon", "_last_ts", "_misses", "_stale", "_suspect",
        "applied", "audits", "depth", "evicted", "ignored", "options", "received", "resyncs",
        "rpi", "symbol",
    )  # fmt: skip

    def __init__(self, symbol: str, depth: int, *, rpi: bool = False,
                 options: BookSyncOptions | None = None) -> None:  # fmt: skip
        if type(depth) is not int or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self.symbol = symbol
        self.depth = depth
        self.rpi = rpi
        self.options = options = options or BookSyncOptions()
        self._book: _Book | None = None
        """The book as of ``_last_ts``; None while unsynced."""
        self._last_ts: int | None = None
        self._horizon = -1
        """The newest exchange time known while unsynced (a delta seen, a book held): a seed
        must reach it, or it would present an older book as current."""
        self._buffer: dict[int, BookUpdate] = {}
        """Unsynced deltas by ``prevTs``, oldest first (a duplicate replaces its twin)."""
        self._awaiting = False
        """A snapshot was asked for and not answered yet (at most one at a time)."""
        self._fetch: FetchSnapshot | None = None
        self._misses = 0
        self._stale = False
        self._ever_synced = False
        self._cause = "subscribed"
        self._suspect: BookEvent | None = None
        """A REST book newer than the last delta, waiting for the chain to reach it."""
        self._edge_mode = {Edges.AUTO: _UNKNOWN, Edges.EXPLICIT: _EXPLICIT,
                           Edges.IMPLICIT: _IMPLICIT}[options.edges]  # fmt: skip
        self._check_crossed = options.check_crossed
        self.received = 0
        self.applied = 0
        self.ignored = 0
        self.evicted = 0
        self.resyncs = 0
        self.audits = 0

    # ---- state ------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._book is not None

    @property
    def stale(self) -> bool:
        return self._stale

    @property
    def last_ts(self) -> int | None:
        """The exchange time the book is exact as of; None while unsynced."""
        return self._last_ts

    @property
    def book(self) -> OrderBook | None:
        """The book as delivered (read it, never apply to it); None while unsynced."""
        return self._book

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def edges(self) -> Edges:
        """What the edge rules currently assume (AUTO while nothing has shown it)."""
        return (Edges.AUTO, Edges.EXPLICIT, Edges.IMPLICIT)[self._edge_mode]

    def take_fetch(self) -> FetchSnapshot | None:
        """The REST read to perform now (each is handed out once), or None."""
        fetch, self._fetch = self._fetch, None
        return fetch

    # ---- inputs -----------------------------------------------------------------------------

    def on_subscribed(self) -> None:
        """The topic's ack arrived (again, after a reconnect or rotation): seed, or check a
        synced book against REST since deltas may have been lost while unsubscribed."""
        if self._book is None:
            self._want(self.options.seed_delay, "subscribed: seeding the book")
        else:
            self.request_audit("resubscribed: checking the book against REST")

    def request_audit(self, reason: str = "audit") -> None:
        """Ask for a REST read that checks a synced book (no-op while a read is pending)."""
        self._want(0.0, reason, audit=self._book is not None)

    def on_delta(self, update: BookUpdate) -> list[StreamEvent]:
        """One push; the events to deliver: usually the delta, nothing if it was buffered, a
        duplicate or a break."""
        if update.symbol != self.symbol or update.depth != self.depth or update.rpi != self.rpi:
            raise ValueError(f"a {update.symbol}@{update.depth} rpi={update.rpi} delta reached "
                             f"the {self.symbol}@{self.depth} rpi={self.rpi} book")  # fmt: skip
        self.received += 1
        ts = update.ts
        last = self._last_ts
        if last is None:
            if ts > self._horizon:
                self._horizon = ts
            self._hold(update)
            return []
        if update.prev_ts != last:
            if ts <= last:
                self.ignored += 1
                return []
            self._lose(f"chain break: delta {update.prev_ts}->{ts} after {last}", ts, update)
            return []
        event = BookEvent(self.symbol, self.depth, ts, False, update.bids, update.asks)
        problem = self._apply(event)
        if problem is not None:
            self._lose(problem, ts)
            return []
        self._last_ts = ts
        self.applied += 1
        suspect = self._suspect
        if suspect is not None and ts >= suspect.time:
            self._suspect = None
            if ts == suspect.time and not self._same(suspect):
                self._lose(f"REST book at {ts} differs from the book kept from deltas", ts)
                return []
        if self._stale:  # deltas do arrive after all: the book is live again
            return self._synced("a delta arrived: the book follows the socket again")
        return [event]

    def on_snapshot(self, snapshot: BookEvent) -> list[StreamEvent]:
        """The REST book (``time`` = its ``timestamp``), answering the pending fetch."""
        if not snapshot.snapshot or snapshot.symbol != self.symbol:
            raise ValueError(f"{snapshot.symbol} snapshot={snapshot.snapshot} cannot seed the "
                             f"{self.symbol} book")  # fmt: skip
        self._awaiting = False
        if self._book is not None:
            return self._audit(snapshot)
        return self._seed(snapshot)

    def report_stale(self, reason: str) -> list[StreamEvent]:
        """The caller knows the unsynced book will not be seeded soon (its REST read waits in
        the budget's queue): ``stale`` now, once, so the next book is announced as resynced."""
        if self._book is not None or self._stale:
            return []
        self._stale = True
        return [_status(StatusKind.STALE, self.symbol, reason)]

    def on_snapshot_failed(self, reason: str) -> list[StreamEvent]:
        """The pending REST read failed for good (after the REST layer's own retries)."""
        self._awaiting = False
        if self._book is not None:
            return []  # an audit: the book stands, and the chain still guards it
        return self._miss(f"REST book unavailable: {reason}")

    # ---- seeding ----------------------------------------------------------------------------

    def _hold(self, update: BookUpdate) -> None:
        buffer = self._buffer
        buffer[update.prev_ts] = update
        if len(buffer) > self.options.buffer_limit:
            del buffer[next(iter(buffer))]
            self.evicted += 1

    def _forget(self, upto: int) -> None:
        """Drop buffered deltas that end at or before ``upto``."""
        buffer = self._buffer
        for prev_ts in [p for p, u in buffer.items() if u.ts <= upto]:
            del buffer[prev_ts]

    def _seed(self, snapshot: BookEvent) -> list[StreamEvent]:
        at = snapshot.time
        buffer = self._buffer
        self._forget(at)
        chain = self._chain(at)
        if not chain and buffer:
            first = min(buffer)
            if first > at:
                return self._miss(f"REST book ({at}) is behind the socket (next delta starts at "
                                  f"{first})")  # fmt: skip
            return self._miss(f"REST book ({at}) does not start any delta (a delta spans it)")
        if not buffer and at < self._horizon:
            return self._miss(f"REST book ({at}) is older than the newest change seen "
                              f"({self._horizon})")  # fmt: skip
        self._book = book = self._new_book(snapshot)
        if book.crossed:
            self._check_crossed = False  # the exchange's own book crosses: not a symptom here
        end = at
        for update in chain:
            problem = self._apply(BookEvent(self.symbol, self.depth, update.ts, False,
                                            update.bids, update.asks))  # fmt: skip
            if problem is not None:
                self._book = None
                self._forget(update.ts)
                return self._miss(f"the buffered chain after the REST book broke: {problem}")
            end = update.ts
            self.applied += 1
        self._forget(end)  # what else ended by ``end``: duplicates and stale deltas
        if buffer or end < self._horizon:
            self._book = None
            return self._miss(f"deltas after {end} are missing from the socket's stream")
        self._last_ts = end
        self._misses = 0
        return self._synced(self._cause)

    def _synced(self, reason: str) -> list[StreamEvent]:
        """Announce the book (a snapshot; after a loss or ``stale``, ``resynced`` first)."""
        book = self._book
        assert book is not None and self._last_ts is not None
        events: list[StreamEvent] = []
        if self._ever_synced or self._stale:
            self.resyncs += 1
            events.append(_status(StatusKind.RESYNCED, self.symbol, reason))
        self._ever_synced = True
        self._stale = False
        events.append(BookEvent(self.symbol, self.depth, self._last_ts, True, book.bids,
                                book.asks))  # fmt: skip
        return events

    def _new_book(self, snapshot: BookEvent) -> _Book:
        """The REST book cut to ``depth`` levels per side (a deeper seed would keep levels no
        delta updates: they would surface, stale, when better ones go)."""
        book = _Book(self.depth, self.symbol)
        book.apply(BookEvent(self.symbol, self.depth, snapshot.time, True, snapshot.bids,
                             snapshot.asks))  # fmt: skip
        return book

    def _chain(self, start: int) -> list[BookUpdate]:
        """The buffered deltas that follow ``start`` link by link (the ``prevTs`` rule)."""
        buffer = self._buffer
        chain = []
        at = start
        while (update := buffer.get(at)) is not None and update.ts > at:
            chain.append(update)
            at = update.ts
        return chain

    def _miss(self, why: str) -> list[StreamEvent]:
        self._misses += 1
        events: list[StreamEvent] = []
        if self._misses >= self.options.stale_after and not self._stale:
            self._stale = True
            events.append(_status(StatusKind.STALE, self.symbol,
                                  f"{why}; {self._misses} snapshots missed, retrying"))  # fmt: skip
        delays = self.options.retry_delays
        self._want(delays[min(self._misses, len(delays)) - 1], why)
        return events

    # ---- synced -----------------------------------------------------------------------------

    def _apply(self, event: BookEvent) -> str | None:
        """Apply a linked delta; what is wrong with the result (a break), or None."""
        book = self._book
        assert book is not None
        if self._edge_mode == _EXPLICIT and self.options.edges is Edges.EXPLICIT:
            book.apply(event)
        else:
            depth = self.depth
            bids, asks = event.bids, event.asks
            n_bids, n_asks = book.side_len(True), book.side_len(False)
            watch_bids = n_bids == depth or n_bids + len(bids) > depth
            watch_asks = n_asks == depth or n_asks + len(asks) > depth
            if watch_bids:
                bid_growth, worst_bid = book.growth(bids, True), book.worst(True)
            if watch_asks:
                ask_growth, worst_ask = book.growth(asks, False), book.worst(False)
            book.apply(event)
            problem = None
            if watch_bids:
                problem = self._edge(True, n_bids, *bid_growth, worst_bid)
            if watch_asks and problem is None:
                problem = self._edge(False, n_asks, *ask_growth, worst_ask)
            if problem is not None:
                return problem
        if self._check_crossed and book.crossed:
            return f"crossed book: bid {book.best_bid} >= ask {book.best_ask}"
        return None

    def _edge(self, bids: bool, length: int, inserted: int, deleted: int,
              worst: Decimal | None) -> str | None:  # fmt: skip
        """The window-edge rules for one side of a delta just applied (see :class:`Edges`)."""
        depth = self.depth
        grown = length + inserted - deleted
        if grown > depth:  # levels pushed out of the window were not deleted by the server
            if self.options.edges is Edges.AUTO:
                self._edge_mode = _IMPLICIT
            return None
        if length < depth or not deleted:
            return None
        if grown < depth:
            if self._edge_mode == _EXPLICIT:
                return None
            side = "bid" if bids else "ask"
            return (
                f"a full {side} side lost a level and the one entering the top {depth} is "
                "unknown (WOO X may send nothing at the window edge)"
            )
        if self._edge_mode == _UNKNOWN and worst is not None:
            book = self._book
            assert book is not None
            now = book.worst(bids)
            if now is not None and (now < worst if bids else now > worst):
                self._edge_mode = _EXPLICIT  # a deleted level was refilled from below the window
        return None

    def _same(self, snapshot: BookEvent) -> bool:
        book = self._book
        assert book is not None
        rest = OrderBook(self.depth, self.symbol)
        rest.apply(BookEvent(self.symbol, self.depth, snapshot.time, True, snapshot.bids,
                             snapshot.asks))  # fmt: skip
        return rest.bids == book.bids and rest.asks == book.asks

    def _audit(self, snapshot: BookEvent) -> list[StreamEvent]:
        self.audits += 1
        at = snapshot.time
        last = self._last_ts
        assert last is not None
        if at < last:
            return []  # REST lags the socket: nothing to compare
        if at == last:
            if self._same(snapshot):
                return []
            return self._reseed(snapshot, f"REST book at {at} differs from the book kept from "
                                          "deltas")  # fmt: skip
        suspect = self._suspect
        if suspect is None:
            self._suspect = snapshot
            self._want(
                self.options.confirm_delay,
                f"REST book ({at}) is newer than the last delta ({last})",
                audit=True,
            )
            return []
        events = self._reseed(snapshot if at >= suspect.time else suspect,
                              f"REST book changed at {suspect.time} but no delta after {last} "
                              "arrived")  # fmt: skip
        if self.received == 0 and self._book is not None:
            self._stale = True
            events.append(_status(StatusKind.STALE, self.symbol, _NO_DELTAS))
        return events

    def _reseed(self, snapshot: BookEvent, reason: str) -> list[StreamEvent]:
        self._lose(reason, -1, ask=False)
        return self._seed(snapshot)

    def _lose(self, reason: str, seen: int, keep: BookUpdate | None = None, *,
              ask: bool = True) -> None:  # fmt: skip
        """Drop the book (never the subscription). ``seen``: the newest exchange time known;
        ``keep`` goes to the buffer, to be replayed on a snapshot that ends where it starts."""
        self._horizon = max(self._horizon, seen, self._last_ts or -1)
        self._book = None
        self._last_ts = None
        self._suspect = None
        self._cause = reason
        self._buffer.clear()
        if keep is not None:
            self._buffer[keep.prev_ts] = keep
        if ask:
            self._want(0.0, reason)

    def _want(self, delay: float, reason: str, *, audit: bool = False) -> None:
        if not self._awaiting:
            self._awaiting = True
            self._fetch = FetchSnapshot(delay, reason, audit)
