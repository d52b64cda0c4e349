"""Finality and continuity of one (symbol, interval) feed, from the exchange's timestamps alone.

WOO X sends no "closed" flag. :class:`CandleTracker` decides, push by push, whether a candle
update is provisional, final, stale, a duplicate, or reveals a gap, using only the exchange's own
times (push ``ts``, candle ``st``/``et``), never the local clock: the exchange's clock is the
one its candles obey, and the simulator's market clock runs far faster than wall time.

Rules (woox-api.md §5):

* A push sent at or after its candle's end (``ts >= et``) is the closing push: the candle is
  final with exactly those values, since every later trade belongs to a later candle.
* A push for a newer candle also ends the previous one. If its closing push never came (lost on
  a dropped connection, or the exchange's closing push has ``ts < et``, which the docs leave
  open), the last values we saw may miss the final second of trading. Those values are **not**
  passed off as final: the candle is confirmed from REST history together with any candles
  between it and the new one (one read, see :class:`Fill`). If history cannot supply it, the
  candle is reported unfillable; its last provisional values were already delivered as such.
* Candles must follow each other: each final's ``close_time`` (the exchange's ``et``) is the next
  open time. A newer candle that does not start there means candles were missed (lost pushes,
  a silent spell, a reconnect), and the range is filled from REST before live updates resume.
  Using ``et`` rather than our own calendar keeps this right for weeks and months whatever
  anchor the exchange uses.
* Anything at or before the last final is stale (or a duplicate of it) and ignored; a repeat of
  the current provisional state is a duplicate. A push older (by ``ts``) than the state we have
  for the same candle is stale: during a make-before-break rotation two connections deliver the
  same candle, and the slower one must not move it backwards.

The tracker holds O(1) state (the last final and the live candle) whatever the run time. It
reads only a candle's times, except to tell two states of one candle apart (a repeat, or an
update after the final), so a candle may be any object with ``open_time``, ``close_time`` and
value equality: an :class:`OHLCV`, or a push whose values are decoded only when needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

import attrs

from host_stub.spec import OHLCV

PROVISIONAL: Final = 0
FINAL: Final = 1
FILL: Final = 2
DUPLICATE: Final = 3
STALE: Final = 4
LATE: Final = 5
"""Outcomes of :meth:`CandleTracker.on_push` (plain ints: this runs for every push)."""


class Candle(Protocol):
    """What the tracker reads of a candle (equality aside)."""

    @property
    def open_time(self) -> int: ...

    @property
    def close_time(self) -> int: ...


@attrs.frozen
class Fill:
    """Final candles ``[start, end)`` must come from history before the feed can go on.

    ``unconfirmed`` is the live candle whose closing push was missed (its open is ``start``); the
    rest of the range (``live_start`` onwards) was never seen live at all."""

    start: int
    end: int
    unconfirmed: Candle | None = None

    @property
    def live_start(self) -> int:
        """Start of the part of the range that was missed live (the gap proper)."""
        return self.unconfirmed.close_time if self.unconfirmed is not None else self.start


@attrs.frozen
class FillResult:
    finals: list[OHLCV]
    holes: list[tuple[int, int]]
    """Sub-ranges history did not supply, in order."""


def _same(a: Candle, b: Candle) -> bool:
    """``a == b`` for two states of one candle (same symbol, interval and times); for two
    OHLCVs comparing first what changes most: cheaper than attrs' tuple-building ``__eq__``."""
    if type(a) is not OHLCV or type(b) is not OHLCV:
        return a == b
    return (
        a.volume == b.volume and a.close == b.close and a.high == b.high and a.low == b.low
        and a.quote_volume == b.quote_volume and a.open == b.open
    )  # fmt: skip


class CandleTracker:
    """The finality/continuity state machine of one feed (see the module docstring)."""

    __slots__ = ("last_final", "live", "live_ts", "next_open", "pending")

    def __init__(self) -> None:
        self.last_final: Candle | None = None
        self.next_open: int | None = None
        """Open time of the next final (the last final's ``close_time``); None before one."""
        self.live: Candle | None = None
        """The candle in progress (not final yet), as last pushed."""
        self.live_ts = 0
        self.pending: Fill | None = None
        """The fill that must complete before more pushes are applied."""

    @property
    def frontier(self) -> int | None:
        """Open time of the next candle this feed will finalize; None before the first push.
        Everything before it is closed and (barring holes) in history."""
        if self.next_open is not None:
            return self.next_open
        return self.live.open_time if self.live is not None else None

    def on_push(self, candle: Candle, ts: int) -> int:
        """Apply one push (``ts``: when the exchange sent it) and say what it was.

        On :data:`FILL` the push is *not* applied: ``pending`` names the range to fetch; call
        :meth:`apply_fill`, then offer the push again."""
        if self.pending is not None:
            raise RuntimeError("a fill is pending; apply it before offering more pushes")
        start = candle.open_time
        next_open = self.next_open
        if next_open is not None and start < next_open:
            last = self.last_final
            if last is not None and start == last.open_time:
                return DUPLICATE if candle == last else LATE
            return STALE
        live = self.live
        if live is not None:
            if start == live.open_time:
                if ts < self.live_ts:
                    return STALE
                if ts >= candle.close_time:
                    return self._finalize(candle)
                if ts == self.live_ts and _same(candle, live):
                    return DUPLICATE  # (a same state sent later is just a no-op update)
                self.live = candle
                self.live_ts = ts
                return PROVISIONAL
            if start < live.open_time:
                return STALE
            self.pending = Fill(live.open_time, start, live)
            return FILL
        if next_open is not None and start > next_open:
            self.pending = Fill(next_open, start)
            return FILL
        if ts >= candle.close_time:
            return self._finalize(candle)
        self.live = candle
        self.live_ts = ts
        return PROVISIONAL

    def _finalize(self, candle: Candle) -> int:
        self.last_final = candle
        self.next_open = candle.close_time
        self.live = None
        self.live_ts = 0
        return FINAL

    def apply_fill(self, rows: Iterable[OHLCV]) -> FillResult:
        """Take history's closed candles for the pending fill (any order, duplicates and rows
        outside the range ignored) and move past the range: the finals to deliver, in order, and
        the holes history left. The feed continues at the fill's ``end`` either way."""
        fill = self.pending
        if fill is None:
            raise RuntimeError("no fill is pending")
        start, end = fill.start, fill.end
        by_open = {r.open_time: r for r in rows if start <= r.open_time < end}
        finals: list[OHLCV] = []
        holes: list[tuple[int, int]] = []
        cursor = start
        for open_time in sorted(by_open):
            row = by_open[open_time]
            if open_time < cursor:
                continue  # overlaps the previous row: the exchange's boundaries disagree
            if open_time > cursor:
                holes.append((cursor, open_time))
            finals.append(row)
            cursor = row.close_time
        if cursor < end:
            holes.append((cursor, end))
        if finals:
            self.last_final = finals[-1]
        self.next_open = max(cursor, end)
        self.live = None
        self.live_ts = 0
        self.pending = None
        return FillResult(finals, holes)
