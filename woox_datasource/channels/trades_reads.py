"""Reading one outage of the trades channel from REST: which read helps next, what each proved.

An outage is the window from the frontier (everything before it settled) to the millisecond from
which the socket being joined holds every trade. The plan, cheapest first:

1. ``marketTrades`` (the newest page) until its reply's time reaches the socket's start; if it
   also reaches back to the frontier, one read settles the outage (the common case: a short
   drop on a symbol that trades less than a page per outage).
2. Else ``marketTradesHistory`` by time range, oldest first, from the frontier up to where the
   newest page's proof begins, page after page (each read starts at the newest millisecond the
   last one may have cut). Its parameters are UNCERTAIN: a reply that shows the range was not
   honoured, an error, or a page that proves nothing turns range reads off for good
   (:attr:`Outage.history`), and what the newest page cannot reach is reported unfillable.

A millisecond that holds more trades than a page can never be read whole by paging; it is given
up on its own, so that one busy millisecond does not cost the rest of the window.

A range read that fails may mean the endpoint or its parameters do not exist, or only that the
exchange keeps less history than the outage reaches back (the simulator answers HTTP 400 for a
start before what it keeps). So a failure starts a bisection for the earliest start that is
served (at most :data:`PROBES` reads): if one is found, the window before it is reported
unfillable (too wide by at most the last step) and paging goes on from there; if none is, range
reads are off. A server that silently clipped such a range instead would be caught only where a
socket showed trades the page lacks (a reconnect's frontier millisecond); a backfill reaching
past the kept history of such a server would be misread (UNCERTAIN: nothing documents it).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable

import attrs

from host_stub.spec import Trade
from woox_datasource.channels.trades_cover import (
    Coverage,
    RangeIgnored,
    newest_coverage,
    range_coverage,
)


class ReadKind(enum.Enum):
    NEWEST = "marketTrades"
    RANGE = "marketTradesHistory"


@attrs.frozen
class Read:
    """A REST read the trades channel asks for: the newest ``limit`` trades, or those in
    ``[start, end)`` oldest first. ``bounds_live``: planned after the joining socket's ack, so
    the reply's timestamp bounds where that socket holds every trade from (a trade after the
    reply happened after the subscription took effect)."""

    kind: ReadKind
    limit: int
    start: int | None = None
    end: int | None = None
    bounds_live: bool = False
    source: Hashable | None = None
    outage: int = 0
    """Which outage of the sync asked for it: a reply to an earlier one's read is ignored."""


PROBES = 24
"""Range reads spent per outage looking for the earliest start history serves."""

STUCK = "stuck"
""":meth:`Outage.range_reply`'s verdict on a millisecond with more trades than a page holds."""


class Outage:
    """The REST side of one outage (or backfill) starting at ``start``."""

    def __init__(self, start: int, *, backfill: bool, history: bool, page_limit: int,
                 newest_attempts: int) -> None:  # fmt: skip
        self.start = start
        self.backfill = backfill
        self.history = history
        """Whether time-ranged reads are believed to work (the channel carries it over)."""
        self.page_limit = page_limit
        self.newest_attempts = newest_attempts
        self.filled = 0
        """Trades delivered from REST in this outage."""
        self.gaps = 0
        """Stretches of it reported unfillable."""
        self.covers: list[Coverage] = []
        self.newest: Coverage | None = None
        self.newest_reads = 0
        self.range_cap: int | None = None
        self.notes: list[str] = []
        self.search: tuple[int, int, int] | None = None
        """Bisecting ``(lo, hi, end)``: a range from ``lo`` failed; one from ``hi`` was served
        (``hi == end``: none yet)."""
        self.probes = 0
        self.settle_to: int | None = None
        """Set when a search found where history begins: everything before it is unfillable."""

    @property
    def reason(self) -> str:
        """Why what is left could not be read (for ``gap_unfillable``)."""
        return "; ".join(dict.fromkeys(self.notes)) or "REST could not cover it"

    def next_read(self, frontier: int, live_from: int | None, acked: bool,
                  socket: Hashable) -> Read | None:  # fmt: skip
        """The read that would help, or None (nothing left to try, or wait for the socket)."""
        if live_from is None:
            if not acked or self.newest_reads >= self.newest_attempts:
                return None  # the window has no end until the socket's ack or first push
            return Read(ReadKind.NEWEST, self.page_limit, bounds_live=True, source=socket)
        newest = self.newest
        if newest is None or newest.end < live_from:
            if self.newest_reads >= self.newest_attempts:
                return None
            return Read(ReadKind.NEWEST, self.page_limit, bounds_live=acked, source=socket)
        if not self.history:
            return None
        if self.search is not None:
            lo, hi, end = self.search
            return Read(ReadKind.RANGE, self.page_limit, start=(lo + hi) // 2, end=end)
        ends = [c.start for c in self.covers if c.complete and c.start > frontier]
        if self.range_cap is not None and self.range_cap > frontier:
            ends.append(self.range_cap)
        return Read(ReadKind.RANGE, self.page_limit, start=frontier, end=min([live_from, *ends]))

    def newest_reply(self, read: Read, rows: list[Trade], now: int | None) -> Coverage:
        self.newest_reads += 1
        cover = newest_coverage(rows, limit=read.limit, now=now)
        if self.newest is None or cover.end >= self.newest.end:
            self.newest = cover
        if len(rows) >= read.limit:
            self.notes.append(f"marketTrades holds the newest {read.limit} trades, back to "
                              f"{cover.start - 1} only")  # fmt: skip
        return cover

    def newest_failed(self, error: str) -> None:
        self.newest_reads += 1
        self.notes.append(f"marketTrades failed: {error}")

    def range_reply(self, read: Read, rows: list[Trade], now: int | None
                    ) -> Coverage | str | None:  # fmt: skip
        """What a range read proved (a :class:`Coverage`, possibly proving nothing but holding
        evidence), :data:`STUCK` (its first millisecond cannot be read whole), or None (range
        reads do not work: turned off)."""
        start, end = read.start, read.end
        assert start is not None and end is not None
        try:
            cover = range_coverage(rows, start=start, end=end, limit=read.limit, now=now)
        except RangeIgnored as exc:
            self.no_history(str(exc))
            return None
        if self.search is not None:
            lo, _, end = self.search
            self._searched(lo, start, end)
        trades = cover.trades
        if len(trades) >= read.limit and trades[0].time == trades[-1].time:
            # A full page within one millisecond. Read oldest first it would prove the range
            # empty before it; but a server that ignored the range and sent its newest trades
            # answers the same. So it proves nothing, and the range up to it is asked first.
            self.covers.append(cover.weakened())
            if trades[0].time == start:
                self.notes.append(f"more than {read.limit} trades in millisecond {start}: "
                                  "pages cannot hold it whole")  # fmt: skip
                return STUCK
            self.range_cap = trades[0].time
            return self.covers[-1]
        if not cover.complete:
            self.no_history(f"marketTradesHistory proved nothing for [{start}, {end})")
            return None
        return cover

    def range_failed(self, read: Read, error: str) -> None:
        """A range read failed for good: look for where history begins (module docstring)."""
        start, end = read.start, read.end
        assert start is not None and end is not None
        if self.search is None:  # (the search's own failures would only repeat it)
            self.notes.append(f"marketTradesHistory failed from {start}: {error}")
            self._searched(start, end, end)
        else:
            _, hi, end = self.search
            self._searched(start, hi, end)

    def _searched(self, lo: int, hi: int, end: int) -> None:
        self.probes += 1
        if hi - lo > 1 and self.probes < PROBES:
            self.search = (lo, hi, end)
            return
        self.search = None
        if hi >= end:
            self.no_history("marketTradesHistory served no range")
        else:
            self.notes.append(f"marketTradesHistory serves trades from {hi} on, not before")
            self.settle_to = hi

    def no_history(self, why: str) -> None:
        self.history = False
        self.notes.append(why)

    def covering(self, ms: int) -> Coverage | None:
        """The page proving ``ms`` that reaches furthest."""
        best = None
        for cover in self.covers:
            if cover.covers(ms) and (best is None or cover.end > best.end):
                best = cover
        return best

    def next_proof(self, ms: int) -> int | None:
        """Where the first proof after ``ms`` begins."""
        return min((c.start for c in self.covers if c.complete and c.start > ms), default=None)

    def forget_before(self, ms: int) -> None:
        """Drop pages that can no longer prove or show anything (memory stays bounded)."""
        self.covers = [c for c in self.covers
                       if c.end > ms or (c.trades and c.trades[-1].time >= ms)]  # fmt: skip
