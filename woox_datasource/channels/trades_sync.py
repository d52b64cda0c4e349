"""Exactly-once trades in exchange-time order, from sockets that drop and pages that are capped.

WOO X trades carry no id and no sequence number, and two identical trades in one millisecond are
legitimate. What makes exactness possible anyway is the shape of each source:

* A subscribed socket delivers a contiguous run of the exchange's trades (the push order is the
  trade order). So a socket that has pushed a trade of millisecond ``t`` has delivered every
  trade before ``t``, and a socket whose subscription took effect at ``a`` (its ack's time), or
  whose first push was at ``t0``, will deliver every trade after ``a`` (after ``t0``). The
  millisecond at either end of a run is the only one it may hold in part.
* A REST page proves a span it holds in full (:mod:`.trades_cover`).

:class:`TradeSync` keeps a *frontier*: every millisecond before it is settled (delivered in full,
or reported ``gap_unfillable``), and of the frontier millisecond itself it keeps the trades it
delivered, the only ones it remembers (memory does not grow with run time). Whenever a source
takes over (a reconnect's socket, a rotation's new socket, a REST page), the frontier millisecond
is completed from a source that holds it in full, by multiset difference counting identical
trades, and everything after it follows once. A stretch that no source provably holds in full is
reported ``gap_unfillable [start, end)``; the trades known inside it are still delivered, each at
most once (as many copies as the most any one source shows). So outside reported windows the
consumer sees every trade exactly once, and it never sees a duplicate anywhere.

Sockets are opaque tokens (a connection, a generation number). The integration reports what
happens (:meth:`TradeSync.push`, :meth:`~TradeSync.subscribed`, :meth:`~TradeSync.lost`), asks
which REST read would help (:meth:`~TradeSync.next_read`, :mod:`.trades_reads`), hands back the
reply (:meth:`~TradeSync.on_read`, :meth:`~TradeSync.on_read_failed`), and calls
:meth:`~TradeSync.conclude` when no read is left to try. Every call returns the events to
deliver, in order. Only exchange timestamps are used, never the local clock.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable, Iterable
from typing import Final

import attrs

from host_stub.spec import Channel, StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource.channels.trades_cover import Coverage, contains, excess, known_between
from woox_datasource.channels.trades_reads import STUCK, Outage, Read, ReadKind

__all__ = ["HOLD_LIMIT", "NEWEST_ATTEMPTS", "PAGE_LIMIT", "Event", "Read", "ReadKind",
           "SyncStats", "TradeSync"]  # fmt: skip

Event = TradeEvent | StatusEvent

PAGE_LIMIT: Final = 500
"""Rows asked per REST read. WOO X's maximum is UNCERTAIN (the simulator serves 500): a server
that silently capped a newest page below it would make a short page look complete, so keep this
at or under the real maximum."""

NEWEST_ATTEMPTS: Final = 3
"""Newest-page reads per joining socket before giving up on reaching its start."""

HOLD_LIMIT: Final = 20_000
"""Pushes of a socket not yet joined kept while REST is read; beyond it the oldest millisecond
is shed and the socket is trusted only from the next one (REST must then reach further)."""


@attrs.define
class SyncStats:
    duplicates: int = 0
    """Trades seen again from another source and not delivered again."""
    late: int = 0
    """Trades a socket pushed after a later one (reported, not deliverable in order)."""
    conflicts: int = 0
    """REST pages whose rows contradicted other evidence (their proof was dropped)."""
    shed: int = 0
    """Held pushes dropped past :data:`HOLD_LIMIT`."""
    from_rest: int = 0
    """Trades delivered from REST (outages and backfills)."""


class TradeSync:
    """The trades of one symbol, delivered once each in exchange-time order (module docstring).

    ``backfill_from``: begin with the trades from that time on, read from REST, then join the
    first socket at an exact seam."""

    def __init__(
        self,
        symbol: str,
        *,
        backfill_from: int | None = None,
        page_limit: int = PAGE_LIMIT,
        history: bool = True,
        hold_limit: int = HOLD_LIMIT,
        newest_attempts: int = NEWEST_ATTEMPTS,
    ) -> None:
        if page_limit < 1 or hold_limit < 1 or newest_attempts < 1:
            raise ValueError("page_limit, hold_limit and newest_attempts must be >= 1")
        self.symbol = symbol
        self.page_limit = page_limit
        self.hold_limit = hold_limit
        self.newest_attempts = newest_attempts
        self.history = history
        """Whether time-ranged ``marketTradesHistory`` reads work (cleared for good when one
        shows they do not)."""
        self.stats = SyncStats()
        self._frontier = backfill_from
        self._frontier_live = False
        """The frontier was set by the authority's own push (not by REST): nothing it will push
        from now on can have been delivered already."""
        self._at_frontier: list[Trade] = []
        self._owed: Counter[Trade] = Counter()
        """Trades of the frontier ms delivered already that the socket just joined will push."""
        self._authority: Hashable | None = None
        self._live_max: int | None = None
        self._retired: Hashable | None = None
        """The socket a rotation replaced: its last pushes are ignored until it closes."""
        self._joining: Hashable | None = None
        self._held: deque[Trade] = deque()
        self._live_from: int | None = None
        """The joining socket holds every trade from this ms on."""
        self._acked = False
        self._ack_bound: int | None = None
        self._outage: Outage | None = None
        self._outages = 0
        """Outages begun (numbers the reads, so that a late reply finds its own)."""
        if backfill_from is not None:
            self._outage = self._new_outage(backfill_from, backfill=True)

    # -- state --------------------------------------------------------------------------------

    @property
    def frontier(self) -> int | None:
        """Every millisecond before it is settled; None before the first trade or start."""
        return self._frontier

    @property
    def recovering(self) -> bool:
        """An outage (or the backfill) is being read from REST; pushes are held meanwhile."""
        return self._outage is not None

    @property
    def authority(self) -> Hashable | None:
        """The socket whose pushes are delivered live."""
        return self._authority

    @property
    def joining(self) -> Hashable | None:
        """The socket being joined (a reconnect's or a rotation's new one), if any."""
        return self._joining

    @property
    def settled(self) -> bool:
        """Live on one socket that has passed everything REST delivered, with nothing held
        back: every further push of it is delivered as it comes (a backfill's sync may step
        aside)."""
        return (self._outage is None and self._joining is None and not self._owed
                and self._frontier_live)  # fmt: skip

    @property
    def remembered(self) -> int:
        """Trades kept: the frontier millisecond's and the joining socket's held pushes."""
        return len(self._at_frontier) + len(self._held)

    # -- sockets ------------------------------------------------------------------------------

    def push(self, trade: Trade, source: Hashable) -> list[Event]:
        """A trade pushed by socket ``source``."""
        out: list[Event] = []
        if source == self._retired:
            self.stats.duplicates += 1
        elif self._outage is None and source == self._authority:
            self._live(trade, out)
            if self._joining is not None:  # a rotation: has it passed the new socket's start?
                self._progress(out)
        elif self._outage is None and self._authority is None and self._frontier is None:
            self._authority = source  # a fresh stream begins with its first push
            self._live(trade, out)
        else:
            if source != self._joining:
                self._new_joining(source)
            self._hold(trade)
            self._progress(out)
        return out

    def subscribed(self, source: Hashable, ack_time: int | None) -> list[Event]:
        """Socket ``source`` has its subscription (``ack_time``: the ack's exchange time, if it
        carries one): every trade after ``ack_time`` will come through it."""
        out: list[Event] = []
        if source == self._authority or source == self._retired:
            return out
        if self._outage is None and self._authority is None and self._frontier is None:
            self._authority = source
            if ack_time is not None:  # a fresh stream begins right after its first ack
                self._frontier = ack_time + 1
                self._frontier_live = True  # (nothing delivered from REST)
            return out
        if source != self._joining:
            self._new_joining(source)
        self._acked = True
        if ack_time is not None:
            self._bound(ack_time + 1)
            self._ack_bound = ack_time + 1
        self._progress(out)
        return out

    def alive_at(self, source: Hashable, server_time: int) -> list[Event]:
        """Socket ``source``, already subscribed, sent a frame stamped ``server_time`` (a PONG,
        another topic's push): every trade after it will come through that socket. Lets an
        outage end on a quiet symbol whose ack carried no time."""
        out: list[Event] = []
        if source == self._joining and self._acked:
            self._bound(server_time + 1)
            self._progress(out)
        return out

    def lost(self, source: Hashable) -> list[Event]:
        """Socket ``source`` is gone (dropped, silent, refused, or rotated out)."""
        out: list[Event] = []
        if source == self._retired:
            self._retired = None
        elif source == self._joining:
            self._new_joining(None)
        elif source == self._authority:
            self._authority = None
            if self._frontier is None:  # nothing delivered yet: nothing to recover
                if self._joining is not None:
                    self._promote(out)
            else:
                self._outage = self._new_outage(self._frontier, backfill=False)
                self._progress(out)
        return out

    # -- REST ---------------------------------------------------------------------------------

    def next_read(self) -> Read | None:
        """The REST read that would help now; None if none would (no outage, no socket to join
        yet, or REST has nothing more to give: then :meth:`conclude`)."""
        outage, frontier = self._outage, self._frontier
        if outage is None or self._joining is None or frontier is None:
            return None
        read = outage.next_read(frontier, self._live_from, self._acked, self._joining)
        return read if read is None else attrs.evolve(read, outage=self._outages)

    def on_read(self, read: Read, trades: Iterable[Trade], now: int | None) -> list[Event]:
        """The reply to ``read``: its trades and its timestamp (``now``, None if it had none)."""
        out: list[Event] = []
        outage = self._outage
        if outage is None or read.outage != self._outages:
            return out  # a late reply: its outage is settled
        rows = [t for t in trades if t.symbol == self.symbol]
        if read.kind is ReadKind.NEWEST:
            self._add(outage, outage.newest_reply(read, rows, now))
            if read.bounds_live and read.source == self._joining and now is not None:
                self._bound(now + 1)
        else:
            verdict = outage.range_reply(read, rows, now)
            self.history = outage.history
            if verdict == STUCK:
                assert read.start is not None
                if self._frontier == read.start:
                    self._give_up(read.start + 1, outage.reason, out)
            elif (isinstance(verdict, Coverage) and verdict.complete
                  and not self._add(outage, verdict)):  # fmt: skip
                outage.no_history("marketTradesHistory contradicted other evidence")
                self.history = False  # (asking again would only repeat it)
        self._settle(outage, out)
        return out

    def on_read_failed(self, read: Read, error: str) -> list[Event]:
        """``read`` failed for good (after the REST layer's own retries)."""
        out: list[Event] = []
        outage = self._outage
        if outage is not None and read.outage == self._outages:
            if read.kind is ReadKind.NEWEST:
                outage.newest_failed(error)
            else:
                outage.range_failed(read, error)
                self.history = outage.history
            self._settle(outage, out)
        return out

    def _settle(self, outage: Outage, out: list[Event]) -> None:
        """After a reply: give up what history proved it does not keep, deliver what is proven."""
        stop, outage.settle_to = outage.settle_to, None
        if stop is not None and self._outage is outage:
            self._give_up(stop, outage.reason, out)
        self._progress(out)

    def conclude(self, reason: str | None = None) -> list[Event]:
        """REST has nothing more to give: settle the outage up to the joining socket's start,
        reporting what no source held in full, and go live on that socket. Does nothing until
        that start is known (the socket's ack or first push)."""
        out: list[Event] = []
        outage = self._outage
        if outage is not None and self._live_from is not None:
            self._give_up(self._live_from, reason or outage.reason, out)
            self._progress(out)
        return out

    # -- live ---------------------------------------------------------------------------------

    def _live(self, trade: Trade, out: list[Event]) -> None:
        """A trade from the socket delivered live (in order: no duplicates to expect, but for
        the frontier ms a socket just joined repeats, and what REST delivered before it)."""
        ms = trade.time
        frontier = self._frontier
        if frontier is None or ms > frontier:
            self._frontier = ms
            self._frontier_live = True
            self._at_frontier = [trade]
            if self._owed:
                self._owed.clear()
            out.append(TradeEvent(trade))
        elif ms == frontier:
            if self._owed[trade] > 0:
                self._owed[trade] -= 1
                self.stats.duplicates += 1
            else:
                self._at_frontier.append(trade)
                out.append(TradeEvent(trade))
        elif self._live_max is not None and ms < self._live_max:
            self.stats.late += 1
            why = "pushed after a later trade: cannot be delivered in order"
            out.append(self._status(StatusKind.GAP_UNFILLABLE, ms, ms + 1, 1, why))
        else:
            self.stats.duplicates += 1  # delivered from REST already (or before the start)
        if self._live_max is None or ms > self._live_max:
            self._live_max = ms

    def _new_joining(self, source: Hashable | None) -> None:
        """``source`` becomes the socket to join. A previous one's pushes stay as evidence in
        an outage: it held every trade from its start to the ms of its last push."""
        held, start, outage = self._held, self._live_from, self._outage
        if outage is not None:
            outage.newest_reads = 0  # (its attempts are per socket: each has its own start)
            if held and start is not None:
                cover = Coverage(tuple(held), start, max(start, held[-1].time), "socket")
                self._add(outage, cover)
        self._joining = source
        self._held = deque()
        self._live_from = None
        self._acked = False
        self._ack_bound = None

    def _bound(self, ms: int) -> None:
        if self._live_from is None or ms < self._live_from:
            self._live_from = ms

    def _hold(self, trade: Trade) -> None:
        held = self._held
        held.append(trade)
        if len(held) == 1:
            self._bound(trade.time + 1)
        if len(held) > self.hold_limit:
            first = held[0].time
            while held and held[0].time == first:
                held.popleft()
                self.stats.shed += 1
            if self._live_from is not None and self._live_from <= first:
                self._live_from = first + 1

    def _takes_over(self) -> bool:
        """Whether the joining socket holds every trade from the frontier on."""
        start, frontier = self._live_from, self._frontier
        return (self._joining is not None and start is not None and frontier is not None
                and frontier >= start)  # fmt: skip

    def _progress(self, out: list[Event]) -> None:
        """Deliver what the evidence now proves; join the socket once it takes over (in a
        rotation: once the old socket has passed the new one's start)."""
        outage = self._outage
        if outage is not None:
            while not self._takes_over():
                frontier = self._frontier
                assert frontier is not None
                cover = outage.covering(frontier)
                if cover is None:
                    return
                self._deliver(outage, cover, cover.end, out)
        if self._takes_over():
            self._join(out)

    def _join(self, out: list[Event]) -> None:
        outage = self._outage
        if outage is not None:
            assert self._frontier is not None
            if outage.backfill:
                out.append(self._status(StatusKind.BACKFILLED, outage.start, self._frontier,
                                        outage.filled))  # fmt: skip
            elif outage.filled and not outage.gaps:
                out.append(self._status(StatusKind.GAP_FILLED, outage.start, self._frontier,
                                        outage.filled))  # fmt: skip
        self._promote(out)

    def _promote(self, out: list[Event]) -> None:
        """The joining socket becomes the authority; its held pushes are replayed."""
        held = self._held
        if self._frontier is None:  # a fresh stream begins right after its first ack
            self._frontier = self._ack_bound
            self._frontier_live = True
        self._retired = self._authority
        self._authority = self._joining
        self._joining = None
        self._held = deque()
        self._live_from = None
        self._acked = False
        self._ack_bound = None
        self._outage = None
        frontier = self._frontier
        self._live_max = None
        if frontier is not None:  # the frontier ms: the new socket holds it whole
            here = [t for t in held if t.time == frontier]
            fresh = excess(here, self._at_frontier)
            self.stats.duplicates += len(here) - len(fresh)
            owed = Counter(self._at_frontier)
            owed.subtract(here)
            self._owed = +owed  # delivered already, yet to come from the new socket
            self._at_frontier.extend(fresh)
            out.extend(TradeEvent(t) for t in fresh)
        for trade in held:
            if frontier is None or trade.time > frontier:
                self._live(trade, out)
            elif trade.time < frontier:
                self.stats.duplicates += 1
        if held and (self._live_max is None or held[-1].time > self._live_max):
            self._live_max = held[-1].time

    # -- settling from REST -------------------------------------------------------------------

    def _new_outage(self, start: int, *, backfill: bool) -> Outage:
        self._outages += 1
        return Outage(start, backfill=backfill, history=self.history,
                      page_limit=self.page_limit, newest_attempts=self.newest_attempts)  # fmt: skip

    def _add(self, outage: Outage, cover: Coverage) -> bool:
        """Keep a page for the outage, dropping its proof if it lacks a trade that other
        evidence shows inside its span (REST lagging, or not what we take it for); False
        then."""
        if cover.complete:
            start, end = cover.start, cover.end
            inside = [t for t in cover.trades if start <= t.time < end]
            for trades in (self._at_frontier, self._held, *(c.trades for c in outage.covers)):
                part = [t for t in trades if start <= t.time < end]
                if part and not contains(inside, part):
                    self.stats.conflicts += 1
                    outage.notes.append(f"{cover.what} lacked trades other sources showed")
                    outage.covers.append(cover.weakened())
                    return False
        outage.covers.append(cover)
        return True

    def _deliver(self, outage: Outage, cover: Coverage, until: int, out: list[Event]) -> None:
        """Deliver ``cover``'s trades from the frontier up to ``until`` (all proven), the
        frontier millisecond completed by multiset difference."""
        frontier = self._frontier
        assert frontier is not None and cover.start <= frontier < until <= cover.end
        first = [t for t in cover.trades if t.time == frontier]
        rest = [t for t in cover.trades if frontier < t.time < until]
        fresh = excess(first, self._at_frontier) + rest
        self.stats.duplicates += len(first) + len(rest) - len(fresh)
        self._emit_rest(outage, fresh, until, out)

    def _give_up(self, until: int, reason: str, out: list[Event]) -> None:
        """Settle ``[frontier, until)``: what is proven is delivered; every stretch that is not
        is reported ``gap_unfillable`` and the trades known in it delivered, each at most once."""
        outage = self._outage
        assert outage is not None
        while (frontier := self._frontier) is not None and frontier < until:
            cover = outage.covering(frontier)
            if cover is not None:
                self._deliver(outage, cover, min(cover.end, until), out)
                continue
            proof = outage.next_proof(frontier)
            stop = until if proof is None else min(until, proof)
            out.append(self._status(StatusKind.GAP_UNFILLABLE, frontier, stop, None, reason))
            outage.gaps += 1
            known = known_between((*(c.trades for c in outage.covers), self._held), frontier,
                                  stop)  # fmt: skip
            here = [t for t in known if t.time == frontier]
            fresh = excess(here, self._at_frontier) + known[len(here) :]
            self._emit_rest(outage, fresh, stop, out)

    def _emit_rest(self, outage: Outage, trades: list[Trade], until: int,
                   out: list[Event]) -> None:  # fmt: skip
        """Deliver trades read from REST and move the frontier to ``until``."""
        outage.filled += len(trades)
        self.stats.from_rest += len(trades)
        out.extend(TradeEvent(t) for t in trades)
        self._frontier = until
        self._frontier_live = False
        self._at_frontier = []
        self._owed.clear()
        outage.forget_before(until)

    def _status(self, kind: StatusKind, start: int, end: int, count: int | None,
                reason: str = "") -> StatusEvent:  # fmt: skip
        return StatusEvent(kind, self.symbol, None, reason, start, end, count, Channel.TRADES)
