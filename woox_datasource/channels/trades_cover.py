"""Evidence about trades: what a REST page proves, and multiset arithmetic over trades.

WOO X trades carry no id and no sequence number, so a page of trades can only stand in for the
socket where it provably holds *all* the trades: a page cut by its row limit may end inside a
millisecond that holds several trades, and nothing in the rows says whether it did. A
:class:`Coverage` is a page together with the half-open span ``[start, end)`` of exchange time
(ms) that it holds in full. Rows outside the span are still real trades (partial evidence, used
inside a window that has to be reported unfillable anyway), but they never prove anything.

The claims are deliberately the weakest that every reading of WOO X's UNCERTAIN paging makes true
(woox-api-streams.md §3):

* ``marketTrades`` (the newest ``limit`` trades): a full page proves nothing about the
  millisecond of its oldest row (the cut may fall inside it), so it holds everything *after*
  that millisecond; a short page holds everything back to the beginning. Either way it holds
  nothing for certain at or after the reply's ``timestamp``: trades of that very millisecond may
  have happened after the reply was made.
* ``marketTradesHistory`` read by time range, oldest first: a page may cut inside a millisecond
  (a full page then holds everything before its newest millisecond) or never split one (a page
  then ends before a millisecond that did not fit, and may be short although more trades
  follow). A short page therefore proves only what lies up to its newest millisecond, which the
  next read (starting right after it) completes; an empty page proves the whole range. Rows
  outside the range asked for mean the server ignored the range (a reading of the UNCERTAIN
  parameters we cannot use): :class:`RangeIgnored`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Final

import attrs

from host_stub.spec import Trade

NEVER: Final = -(2**63)
"""A span start meaning "since the beginning": the page held every trade up to its end."""


class RangeIgnored(ValueError):
    """A time-ranged read returned trades outside the range: the server does not take the range
    parameters (or reads them otherwise), so range reads cannot prove anything."""


@attrs.frozen
class Coverage:
    """``trades`` (ascending by time) holds every trade with ``start <= time < end``; it may hold
    more (partial evidence outside the span). ``what`` names the read, for status reasons."""

    trades: tuple[Trade, ...]
    start: int
    end: int
    what: str

    @property
    def complete(self) -> bool:
        """Whether the span is non-empty (the page proves anything at all)."""
        return self.start < self.end

    def covers(self, ms: int) -> bool:
        return self.start <= ms < self.end

    def weakened(self) -> Coverage:
        """The same rows, proving nothing (they contradicted other evidence)."""
        return attrs.evolve(self, start=self.end)


def by_time(trades: Iterable[Trade]) -> tuple[Trade, ...]:
    """Ascending by time, keeping the given order within a millisecond (the exchange's order,
    reversed as a whole when the page came newest first)."""
    rows = list(trades)
    if any(a.time > b.time for a, b in pairwise(rows)):
        if all(a.time >= b.time for a, b in pairwise(rows)):
            rows.reverse()
        else:
            rows.sort(key=lambda t: t.time)
    return tuple(rows)


def newest_coverage(trades: Iterable[Trade], *, limit: int, now: int | None) -> Coverage:
    """What a ``marketTrades`` page of at most ``limit`` rows proves; ``now`` is the reply's
    timestamp (the exchange's clock when it answered), None if it had none.

    Without a timestamp only the rows themselves bound the span: the newest row's millisecond
    may have had more trades after the reply."""
    rows = by_time(trades)
    start = rows[0].time + 1 if len(rows) >= limit else NEVER
    if now is not None:
        end = now
    elif rows:
        end = rows[-1].time
    else:
        end = start  # an empty page with no clock proves nothing
    return Coverage(rows, start, max(start, end), "marketTrades")


def range_coverage(
    trades: Iterable[Trade], *, start: int, end: int, limit: int, now: int | None
) -> Coverage:
    """What a ``marketTradesHistory`` page for ``[start, end)`` (at most ``limit`` rows, oldest
    first) proves; ``now`` is the reply's timestamp. Raises :class:`RangeIgnored` if a row lies
    outside the range."""
    rows = by_time(trades)
    for row in rows:
        if not start <= row.time < end:
            raise RangeIgnored(f"marketTradesHistory returned a trade at {row.time}, outside the "
                               f"range [{start}, {end}) it was asked for")  # fmt: skip
    if not rows:
        proven = end
    elif len(rows) >= limit:
        proven = rows[-1].time  # the cut may fall inside the newest millisecond
    else:
        proven = rows[-1].time + 1  # complete up to its newest ms under either cut rule
    if now is not None:
        proven = min(proven, now)
    elif not rows:
        proven = start  # an empty page with no clock: the range may lie in the future
    else:
        proven = min(proven, rows[-1].time)
    return Coverage(rows, start, max(start, proven), "marketTradesHistory")


# ---- multisets of trades (no id exists: identical trades in one millisecond are distinct) -------


def excess(trades: Sequence[Trade], already: Iterable[Trade]) -> list[Trade]:
    """The trades of ``trades`` beyond those in ``already``, as multisets: a trade that appears
    k times in ``already`` is skipped k times. Kept in ``trades``' order."""
    skip = Counter(already)
    out = []
    for trade in trades:
        if skip[trade] > 0:
            skip[trade] -= 1
        else:
            out.append(trade)
    return out


def contains(whole: Iterable[Trade], part: Iterable[Trade]) -> bool:
    """Whether ``part`` is a sub-multiset of ``whole``."""
    have = Counter(whole)
    have.subtract(part)
    return all(n >= 0 for n in have.values())


def upper(groups: Iterable[Sequence[Trade]]) -> list[Trade]:
    """The smallest multiset holding each group (per trade, the most copies any group shows):
    when every group is a part of the truth, so is this, and it never counts a trade twice."""
    best: Counter[Trade] = Counter()
    order: list[Trade] = []
    for group in groups:
        for trade, n in Counter(group).items():
            if n > best[trade]:
                if best[trade] == 0:
                    order.append(trade)
                best[trade] = n
    return [trade for trade in order for _ in range(best[trade])]


def known_between(sources: Iterable[Iterable[Trade]], start: int, stop: int) -> list[Trade]:
    """The trades in ``[start, stop)`` that the sources (each a part of the truth: pages, a
    socket's pushes) show for sure, in time order: per millisecond, :func:`upper`."""
    groups: dict[int, list[list[Trade]]] = {}
    for trades in sources:
        seen: dict[int, list[Trade]] = {}
        for t in trades:
            if start <= t.time < stop:
                seen.setdefault(t.time, []).append(t)
        for ms, group in seen.items():
            groups.setdefault(ms, []).append(group)
    return [t for ms in sorted(groups) for t in upper(groups[ms])]
