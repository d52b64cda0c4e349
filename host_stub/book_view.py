"""``woox-host book`` on a terminal: the top levels of one order book, redrawn in place.

The book shown is a :class:`~host_stub.spec.OrderBook` with every ``BookEvent`` applied, the
contract's own meaning of the events, so what the view shows is what any host would hold. A
book that cannot be trusted is never shown as current: while the stream is ``stale`` or
reconnecting the state line says ``NOT CURRENT`` and why, and the book keeps the time it is
"as of"; the next book event (after a ``stale`` book, the channel sends ``resynced`` and a
snapshot first) makes it live again. The last status lines stay under the levels.

Drawing uses the terminal's alternate screen, like ``top``: each frame starts at the top-left
corner and clears what is below it, so a stray line on stderr (a plugin's log) never shifts the
frame, and the user's scrollback is left alone. At most :data:`FRAMES_PER_SECOND` frames are
drawn (a 50-level book changes every 50 ms); the newest state is always drawn, at the latest one
frame later. When the view ends, the alternate screen is left and the last frame printed once,
so the final book stays on the screen.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Sequence
from decimal import Context, Decimal
from typing import Final, TextIO

from host_stub.event_rows import LADDER_FIELDS as LADDER
from host_stub.event_rows import ladder_rows
from host_stub.output import format_decimal, status_line
from host_stub.spec import BookEvent, OrderBook, StatusEvent, StatusKind, StreamEvent
from host_stub.times import format_ms, zone_label

FRAMES_PER_SECOND: Final = 10
NOTES: Final = 3
"""Status lines kept under the levels, newest last."""
MIN_WIDTH: Final = 10

ENTER: Final = "\x1b[?1049h\x1b[?25l"
"""Switch to the alternate screen, hide the cursor."""
LEAVE: Final = "\x1b[?25h\x1b[?1049l"
HOME: Final = "\x1b[H"
CLEAR_LINE: Final = "\x1b[K"
CLEAR_BELOW: Final = "\x1b[J"


BPS: Final = Context(prec=3)
"""The spread in basis points of the mid, to three significant digits (0.0111 for BTC's tick)."""


def spread_line(book: OrderBook) -> str:
    """``spread 0.5 (0.0556 bps)  mid 90000.25``, or what is missing for them."""
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        empty = " and ".join(side for side, best in (("bids", bid), ("asks", ask)) if best is None)
        return f"spread -  mid -  ({empty}: no levels)"
    spread = ask[0] - bid[0]
    mid = (ask[0] + bid[0]) / 2
    bps = BPS.plus(spread / mid * 10_000) if mid else Decimal(0)
    crossed = "  CROSSED" if spread <= 0 else ""
    return (
        f"spread {format_decimal(spread)} ({format_decimal(bps)} bps)  "
        f"mid {format_decimal(mid)}{crossed}"
    )


def book_lines(
    book: OrderBook,
    levels: int,
    *,
    title: str,
    state: str,
    notes: Sequence[str] = (),
    widths: list[int] | None = None,
) -> list[str]:
    """One frame: the title with the time the book is as of and its ``state``, spread and mid,
    the top ``levels`` per side, then ``notes``. The frame always has ``levels`` level lines
    (blank ones where a side is short), so it keeps its height. ``widths`` (updated in place)
    lets columns only grow from frame to frame, so the numbers do not jump sideways."""
    as_of = "no book yet" if book.time is None else f"as of {format_ms(book.time)}"
    lines = [f"{title}  {as_of}  {state}"]
    if book.time is None:
        lines.append("")
    else:
        lines.append(spread_line(book))
    rows = _points_aligned(ladder_rows(book, levels))
    if widths is None:
        widths = [MIN_WIDTH] * len(LADDER)
    for row in (LADDER, *rows):
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines.append(_ladder_line(LADDER, widths))
    lines += [_ladder_line(row, widths) for row in rows]
    lines += [""] * (levels - len(rows))
    lines += notes
    return lines


def _points_aligned(rows: list[tuple[str, str, str, str]]) -> list[tuple[str, ...]]:
    """Each column's decimal points one above the other (``89258.5`` over ``89250  ``): the
    digits stay the exchange's, only padded on the right."""
    columns = list(zip(*rows, strict=True)) or [()] * len(LADDER)
    fractions = [max((_fraction(cell) for cell in column), default=0) for column in columns]
    return [
        tuple(cell + " " * (fractions[i] - _fraction(cell)) if cell else cell
              for i, cell in enumerate(row))
        for row in rows
    ]  # fmt: skip


def _fraction(cell: str) -> int:
    """The width of ``cell``'s point and decimals (0 for an integer)."""
    point = cell.find(".")
    return 0 if point < 0 else len(cell) - point


def _ladder_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Bids on the left, asks on the right of a bar, every column right-aligned."""
    bid_size, bid_price, ask_price, ask_size = (
        c.rjust(w) for c, w in zip(cells, widths, strict=True)
    )
    return f"{bid_size} {bid_price} | {ask_price} {ask_size}".rstrip()


class BookView:
    """A stream sink (see ``streaming.EventSink``) that keeps the book and draws it on the
    terminal ``out``."""

    def __init__(self, out: TextIO, symbol: str, depth: int, rpi: bool, levels: int) -> None:
        self._out = out
        self._levels = levels
        self.book = OrderBook(depth, symbol)
        variant = " rpi" if rpi else ""
        shown = f", top {levels}" if levels < depth else ""
        self._title = f"{symbol} book {depth}{variant}{shown} (times {zone_label()})"
        self._widths = [MIN_WIDTH] * len(LADDER)
        self._notes: collections.deque[str] = collections.deque(maxlen=NOTES)
        self._connected = False
        self._stale: str | None = None
        self._entered = False
        self._drawn_at = -1.0
        self._pending: asyncio.TimerHandle | None = None
        self.frames = 0

    def label(self, interval: int | None) -> str:
        return ""

    @property
    def state(self) -> str:
        """``live``, or ``NOT CURRENT`` and why."""
        if self._stale is not None:
            return f"NOT CURRENT (stale: {self._stale})"
        if not self._connected:
            return "NOT CURRENT (connecting)" if self.book.time is None and not self._notes \
                else "NOT CURRENT (reconnecting)"  # fmt: skip
        if self.book.time is None:
            return "waiting for the first snapshot"
        return "live"

    def lines(self) -> list[str]:
        notes = [*self._notes, *[""] * (NOTES - len(self._notes))]
        return book_lines(self.book, self._levels, title=self._title, state=self.state,
                          notes=notes, widths=self._widths)  # fmt: skip

    def write_event(self, event: StreamEvent) -> None:
        if isinstance(event, BookEvent):
            self.book.apply(event)
            self._stale = None  # after a stale book, the channel's resync and snapshot came
        elif isinstance(event, StatusEvent):
            if event.kind is StatusKind.CONNECTED:
                self._connected = True
            elif event.kind is StatusKind.RECONNECTING:
                self._connected = False
            elif event.kind is StatusKind.STALE:
                self._stale = event.reason or "no reason given"
            self._notes.append(f"{format_ms(int(time.time() * 1000))} {status_line(event, '')}")
        self._schedule()

    def _schedule(self) -> None:
        """Draw now, or once a frame's time has passed since the last one."""
        if self._pending is not None:
            return
        wait = self._drawn_at + 1 / FRAMES_PER_SECOND - time.monotonic()
        if wait <= 0:
            self.draw()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self.draw)

    def draw(self) -> None:
        self._pending = None
        self._drawn_at = time.monotonic()
        if not self._entered:
            self._out.write(ENTER)
            self._entered = True
        width = _columns(self._out)
        frame = "".join(line[:width] + CLEAR_LINE + "\n" for line in self.lines())
        self._out.write(HOME + frame + CLEAR_BELOW)
        self._out.flush()
        self.frames += 1

    def finish(self) -> None:
        """Leave the alternate screen and print the last frame once, where it stays (nothing if
        nothing was ever drawn: a command refused at the start says only why)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if not self._entered:
            return
        self._out.write(LEAVE)
        self._entered = False
        self._out.write("".join(line.rstrip() + "\n" for line in self.lines()))
        self._out.flush()


def _columns(out: TextIO) -> int:
    """The terminal's width (a longer line would wrap and push the frame down)."""
    try:
        return max(os.get_terminal_size(out.fileno()).columns, 20)
    except (OSError, ValueError):
        return 200
