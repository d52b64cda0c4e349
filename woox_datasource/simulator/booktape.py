"""What a book topic publishes: the top-``depth`` view of a book, replayed change by change.

A :class:`ViewTape` starts from the pure-function book at some instant and applies the book's
changes in time order, keeping the view's sizes by distance from the centre. It publishes either
per window (``orderbookupdate``: windows ``(kP, (k+1)P]`` of the topic's cadence ``P``) or per
changing millisecond (``bbo``).

A window publishes a delta when the view at its end differs from the view at its start (which is
always the last published view): the levels whose size changed, levels that left the view as
size 0, levels that entered it with their size. Its ``ts`` is the last millisecond in the window
at which the view changed, and ``prevTs`` the previous delta's ``ts``: the true chain, and the view
as of ``ts`` is exactly the view after applying the delta. The chain is global: two connections
on one topic see the same deltas, and a REST snapshot (the view at a 200 ms instant, which ends a
window of every cadence) carries the ``ts`` of the topic's last delta as its ``timestamp``.
"""

from __future__ import annotations

from typing import NamedTuple

from .book import ASK, BID, INNER_LEVELS, BookModel, Component, view

DAY_MS = 86_400_000
FAST_FORWARD_MS = 120_000
"""A jump of the market clock longer than this is bridged by one delta (see ``advance``)."""
PERIODS = {50: 50, 200: 100, 500: 200}
"""WOO X's book depths and their push cadences in ms (woox-api-streams.md §1.1)."""
SNAPSHOT_GRID_MS = 200
"""REST snapshots are views at multiples of this (a window end of every cadence)."""

Levels = list[tuple[int, int]]


def period_for(depth: int) -> int:
    """The cadence a REST snapshot of ``maxLevel = depth`` is timed against: the topic's own for
    50/200/500, else 50 ms up to 50 levels, 100 ms up to 200, 200 ms beyond."""
    return PERIODS.get(depth) or (50 if depth <= 50 else 100 if depth <= 200 else 200)


class Publication(NamedTuple):
    """One push of a book topic: at market time ``at``, the changes up to ``ts``."""

    at: int
    ts: int
    prev_ts: int
    bids: Levels
    """Changed bid levels, best first; size 0 deletes."""
    asks: Levels
    view_bids: Levels
    """The whole top-``depth`` view after the change, best first."""
    view_asks: Levels


class ViewTape:
    """The top-``depth`` view of one book (plain or RPI), replayed from ``start``."""

    def __init__(
        self, book: BookModel, rpi: bool, depth: int, period: int, start: int, last_ts: int
    ) -> None:
        self.book = book
        self.rpi = rpi
        self.depth = depth
        self.period = period
        self.t = start
        self.last_ts = last_ts
        """``ts`` of the last publication (the chain's previous link)."""
        prm = book.params
        self._extent = prm.extent
        self._step = prm.step
        self._comps: list[Component] = [book.deep, book.inner] + ([book.rpi] if rpi else [])
        self._centre = 0
        self._rows: list[list[int]] = [[], []]
        """Deep orders by distance from the centre, per side (they move with the centre)."""
        self._ladders: list[list[int]] = [[], []]
        self._edge = [0, 0]
        self._rebuild(start)
        self._published = [self.view(BID), self.view(ASK)]
        self.diffs = True
        """Whether publications list their changed levels (a scan for the last ``ts`` only
        needs to know that something changed)."""
        self._dirty = False
        self._last_change = start

    def _rebuild(self, at: int) -> None:
        """The state at ``at`` from the pure-function book."""
        book = self.book
        self._centre = book.centre(at)
        self._rows = [book.deep_row(side, self._centre, at) for side in (BID, ASK)]
        self._refresh(at)

    def _refresh(self, at: int) -> None:
        book, c = self.book, self._centre
        self._ladders = [book.sizes(self._rows[s], s, c, at, self.rpi) for s in (BID, ASK)]
        self._edge = [self._find_edge(BID), self._find_edge(ASK)]

    def _recentre(self, centre: int, at: int) -> None:
        """Move the centre: the deep orders stay at their prices, so each side's row shifts
        and only the levels it exposes are drawn (the bids' far end when the centre falls...)."""
        book, k, shift = self.book, self._extent, centre - self._centre
        bids, asks = self._rows
        if abs(shift) >= k:
            self._rows = [book.deep_row(side, centre, at) for side in (BID, ASK)]
        elif shift > 0:  # up: new bids near the centre, asks lose their nearest levels
            fresh_bids = book.deep_row(BID, centre, at, 1, shift)
            fresh_asks = book.deep_row(ASK, centre, at, k - shift + 1, k)
            self._rows = [fresh_bids + bids[: k - shift], asks[shift:] + fresh_asks]
        elif shift < 0:
            down = -shift
            fresh_bids = book.deep_row(BID, centre, at, k - down + 1, k)
            fresh_asks = book.deep_row(ASK, centre, at, 1, down)
            self._rows = [bids[down:] + fresh_bids, fresh_asks + asks[: k - down]]
        self._centre = centre
        self._refresh(at)

    # ---------------------------------------------------------------- views

    def _find_edge(self, side: int) -> int:
        """Distance of the ``depth``-th non-empty level (``extent + 1`` if there are fewer):
        a change beyond it cannot touch the view."""
        count = 0
        for d, size in enumerate(self._ladders[side], 1):
            if size:
                count += 1
                if count == self.depth:
                    return d
        return self._extent + 1

    def view(self, side: int) -> Levels:
        return view(self._ladders[side], self._centre, side, self.depth, self._step)

    # ---------------------------------------------------------------- replay

    def next_change_after(self, t: int) -> int:
        """The first instant after ``t`` at which the book may change."""
        times = [(t // c.every_ms + 1) * c.every_ms for c in self._comps]
        grid = self.book.params.grid_ms
        times.append((self.book.grid_index(t) + 1) * grid + self.book.phase)
        return min(times)

    def _events(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Changes in ``(lo, hi]`` as ``(time, component index or -1 for the grid, n)``,
        in time order, grid instants first within a millisecond."""
        out: list[tuple[int, int, int]] = []
        for ci, comp in enumerate(self._comps):
            q = comp.every_ms
            out.extend((n * q, ci, n) for n in range(lo // q + 1, hi // q + 1))
        out.extend((at, -1, g) for at, g in self.book.grid_instants(lo, hi))
        out.sort()
        return out

    def advance(self, to: int) -> list[Publication]:
        """Apply every change up to ``to`` and return what the topic publishes meanwhile.

        A jump of more than two minutes (a test moving the clock by hours) is bridged: one
        publication takes the view straight to its state a minute before ``to``, its ``ts`` the
        true last link of the chain there, its ``prevTs`` this tape's last one, as if the deltas
        in between had been merged; the minute before ``to`` then replays change by change."""
        if to <= self.t:
            return []
        out: list[Publication] = []
        period = self.period
        if to - self.t > FAST_FORWARD_MS:
            self._bridge((to - FAST_FORWARD_MS // 2) // max(period, 1) * max(period, 1), out)
        events = self._events(self.t, to)
        window_end = -(-(self.t + 1) // period) * period if period else 0
        i = 0
        while i < len(events):
            at = events[i][0]
            if period and at > window_end:
                self._publish_window(window_end, out)
                window_end = -(-at // period) * period
            changed = False
            while i < len(events) and events[i][0] == at:
                changed |= self._apply(events[i])
                i += 1
            if changed:
                self._dirty = True
                self._last_change = at
                if not period:
                    self._publish_change(at, out)
        if period:
            last_end = to // period * period
            if last_end >= window_end:
                self._publish_window(window_end, out)
        self.t = to
        return out

    def _apply(self, event: tuple[int, int, int]) -> bool:
        """Apply one change; whether it touched the view."""
        at, ci, n = event
        book, c = self.book, self._centre
        if ci < 0:
            centre = book.centre(at)
            if centre != c:
                self._recentre(centre, at)
                return True
            gap = book.params.gap
            return self._resize(BID, gap, at) | self._resize(ASK, gap, at)
        comp = self._comps[ci]
        residue = book.changed_residue(comp, n)
        prm = book.params
        if comp is book.deep:  # every distance: a level inside the spread keeps its order too
            low = c - prm.extent
            j = low + (residue - low) % comp.modulus
            if j == c or abs(j - c) > prm.extent:
                return False
            side, d = (BID, c - j) if j < c else (ASK, j - c)
            self._rows[side][d - 1] = book.deep_at(side, d, c, at)
            return self._resize(side, d, at)
        if comp is book.inner:
            near, far = prm.gap, prm.gap + INNER_LEVELS - 1
            low = c - far
        else:
            near, far, low = 1, prm.rpi_reach, c - prm.rpi_reach
        j = low + (residue - low) % comp.modulus
        if near <= c - j <= far:
            return self._resize(BID, c - j, at)
        if near <= j - c <= far:
            return self._resize(ASK, j - c, at)
        return False

    def _resize(self, side: int, d: int, at: int) -> bool:
        size = self.book.size(self._rows[side][d - 1], side, d, self._centre, at, self.rpi)
        ladder = self._ladders[side]
        old = ladder[d - 1]
        if size == old:
            return False
        ladder[d - 1] = size
        if d > self._edge[side]:
            return False
        if (old == 0) != (size == 0):
            self._edge[side] = self._find_edge(side)
        return True

    def _bridge(self, start: int, out: list[Publication]) -> None:
        book = self.book
        period = self.period
        ts = last_publication(book, self.rpi, self.depth, period, start) if period else start
        self.t = start
        self._rebuild(start)
        self._last_change = ts
        self._emit(start, out)
        self._dirty = False

    # ---------------------------------------------------------------- publishing

    def _publish_window(self, at: int, out: list[Publication]) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._emit(at, out)

    def _publish_change(self, at: int, out: list[Publication]) -> None:
        self._dirty = False
        self._emit(at, out)

    def _emit(self, at: int, out: list[Publication]) -> None:
        views = [self.view(BID), self.view(ASK)]
        if views == self._published:
            return  # changed and changed back within the window: nothing to publish
        changes: list[Levels] = [[], []]
        if self.diffs:
            for side in (BID, ASK):
                before, now = dict(self._published[side]), views[side]
                current = dict(now)
                moved = [(p, s) for p, s in now if before.get(p) != s]
                moved += [(p, 0) for p in before if p not in current]
                moved.sort(reverse=side == BID)
                changes[side] = moved
        self._published = views
        out.append(Publication(at, self._last_change, self.last_ts, changes[BID], changes[ASK],
                               views[BID], views[ASK]))  # fmt: skip
        self.last_ts = self._last_change


def last_publication(book: BookModel, rpi: bool, depth: int, period: int, at: int) -> int:
    """``ts`` of the last delta the topic ``(rpi, depth, period)`` published at or before ``at``
    (a window end): replayed from a little before, further back until one is found. The best
    levels change at every grid instant, so one grid period usually suffices."""
    span = max(book.params.grid_ms, 1_000) + period
    while True:
        start = (at - span) // period * period
        tape = ViewTape(book, rpi, depth, period, start, start)
        tape.diffs = False
        published = tape.advance(at)
        if published:
            return published[-1].ts
        if span > DAY_MS:
            return start  # nothing changed for a day: the chain starts here
        span *= 4
