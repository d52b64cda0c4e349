"""Writing candles, status events and markets for people (table) and programs (csv, jsonl).

Every format carries the same fields, rendered the same way: times as ISO-8601 UTC, or in the
``--tz`` zone with its offset (``times.format_ms``), intervals by their label (``1M``, not
2592000), prices and volumes with exactly the digits the exchange sent (no float ever touches
them). Writers take records one batch at a time and write them at once, so a year of 1m candles
never sits in memory. The table is for a terminal: symbol and interval go in a title line,
numbers are right-aligned, and a row of today's markets fits 120 columns.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import TextIO

from host_stub.spec import OHLCV, CandleEvent, Channel, Market, StatusEvent, StreamEvent
from host_stub.times import format_ms, format_seconds, format_span, zone_label

FORMATS = ("table", "csv", "jsonl")

CANDLE_FIELDS = (
    "symbol",
    "interval",
    "open_time",
    "close_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
)
_TABLE_FIELDS = CANDLE_FIELDS[2:]
"""The table names symbol and interval once, in its title line."""


def format_decimal(value: Decimal | None) -> str:
    """A price or size with exactly the digits the exchange sent, always in plain notation
    (``str()`` would write ``0.0000001`` as ``1E-7``); ``None`` (a side with no orders) is
    blank."""
    return "" if value is None else format(value, "f")


def table_line(cells: Sequence[str], widths: Sequence[int], right: Collection[int]) -> str:
    """One table row: the columns in ``right`` (numbers, and their headers) right-aligned, the
    others left-aligned, one space between columns."""
    out = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        out.append(cell.rjust(width) if i in right else cell.ljust(width))
    return " ".join(out).rstrip()


class Table:
    """A table written as rows arrive: a title line and the header with the first rows, each
    column as wide as its header, its ``min_widths`` and the first rows' cells; a wider cell
    later widens its column from then on (a live stream cannot know its widths in advance, so
    give columns whose values vary in length a ``min_widths`` entry)."""

    def __init__(
        self,
        out: TextIO,
        names: Sequence[str],
        right: Collection[int],
        min_widths: Mapping[str, int] | None = None,
    ) -> None:
        self._out = out
        self.names = tuple(names)
        self._right = frozenset(right)
        self._min = min_widths or {}
        self._widths: list[int] | None = None

    @property
    def started(self) -> bool:
        return self._widths is not None

    def write(self, rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        """Write ``rows``; the first call writes ``title`` (if any) and the header first."""
        if not rows:
            return
        if self._widths is None:
            self._widths = [
                max(len(name), self._min.get(name, 0), *(len(row[i]) for row in rows))
                for i, name in enumerate(self.names)
            ]
            if title is not None:
                self._out.write(title + "\n")
            self._out.write(table_line(self.names, self._widths, self._right) + "\n")
        lines = []
        for row in rows:
            for i, cell in enumerate(row):
                self._widths[i] = max(self._widths[i], len(cell))
            lines.append(table_line(row, self._widths, self._right))
        self._out.write("".join(line + "\n" for line in lines))


class CandleWriter:
    """Writes candle batches to ``out`` in one of :data:`FORMATS`.

    ``labels`` maps interval seconds to the plugin's labels. With ``with_final`` (live streams)
    each candle says whether it is final: a ``final`` column (``final`` or blank in the table,
    ``true``/``false`` in csv), and in jsonl every line is an object with a ``type``
    (``candle`` with a boolean ``final``, or ``status``, see :meth:`write_status`). With
    ``symbol_column`` (a stream of several symbols) the table gets a ``symbol`` column and its
    title names the interval only."""

    def __init__(
        self,
        out: TextIO,
        fmt: str,
        labels: Mapping[int, str],
        *,
        with_final: bool = False,
        symbol_column: bool = False,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self._out = out
        self._fmt = fmt
        self._labels = labels
        self._with_final = with_final
        self._symbol_column = symbol_column
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        final = ("final",) if with_final else ()
        names = (("symbol",) if symbol_column else ()) + _TABLE_FIELDS + final
        first_number = 3 if symbol_column else 2
        self._table = Table(out, names, range(first_number, first_number + 6))
        self.rows = 0

    def label(self, interval: int | None) -> str:
        if interval is None:
            return ""
        return self._labels.get(interval, str(interval))

    def write(self, candles: Sequence[OHLCV], final: bool = False) -> None:
        if not candles:
            return
        self.rows += len(candles)
        if self._fmt == "jsonl":
            extra: dict[str, object] = {"type": "candle"} if self._with_final else {}
            self._out.write("".join(self._json(c, extra, final) + "\n" for c in candles))
        elif self._csv is not None:
            if self.rows == len(candles):
                self._csv.writerow(CANDLE_FIELDS + (("final",) if self._with_final else ()))
            mark = (("true" if final else "false"),) if self._with_final else ()
            self._csv.writerows(self._cells(c) + mark for c in candles)
        else:
            self._write_table(candles, final)

    def write_event(self, event: StreamEvent) -> None:
        """A live candle stream's event, flushed: a candle with its finality, or a status."""
        if isinstance(event, CandleEvent):
            self.write([event.candle], event.final)
        elif isinstance(event, StatusEvent):
            self.write_status(event)
        self._out.flush()

    def write_status(self, event: StatusEvent) -> None:
        """A status event as a jsonl line (:func:`status_record`); other formats leave status
        events to stderr, where they do not break the columns."""
        if self._fmt == "jsonl":
            self._out.write(json_line(status_record(event, self.label(event.interval))))

    def finish(self) -> None:
        """Flush; an empty csv still gets its header, so a program reading it sees the columns."""
        if self.rows == 0 and self._csv is not None:
            self._csv.writerow(CANDLE_FIELDS + (("final",) if self._with_final else ()))
        self._out.flush()

    def _cells(self, c: OHLCV) -> tuple[str, ...]:
        return (
            c.symbol,
            self.label(c.interval),
            format_ms(c.open_time),
            format_ms(c.close_time),
            format_decimal(c.open),
            format_decimal(c.high),
            format_decimal(c.low),
            format_decimal(c.close),
            format_decimal(c.volume),
            format_decimal(c.quote_volume),
        )

    def _json(self, c: OHLCV, extra: dict[str, object], final: bool) -> str:
        record: dict[str, object] = dict(extra)
        record.update(zip(CANDLE_FIELDS, self._cells(c), strict=True))
        if self._with_final:
            record["final"] = final
        return json.dumps(record, separators=(",", ":"))

    def _write_table(self, candles: Sequence[OHLCV], final: bool) -> None:
        mark = (("final" if final else ""),) if self._with_final else ()
        # The interval (and the symbol, unless there are several) goes in the title line.
        rows = [(c.symbol,) * self._symbol_column + self._cells(c)[2:] + mark for c in candles]
        first = candles[0]
        label = self.label(first.interval)
        named = f"candles {label}" if self._symbol_column else f"{first.symbol} {label}"
        self._table.write(rows, title=f"{named} (times {zone_label()})")


_MARKET_FIELDS = (
    "symbol",
    "kind",
    "base",
    "quote",
    "status",
    "price_tick",
    "quantity_tick",
    "min_quantity",
    "min_notional",
)


def write_markets(out: TextIO, markets: Sequence[Market], fmt: str) -> None:
    rows = [
        (
            m.symbol,
            m.kind.value,
            m.base,
            m.quote,
            m.status,
            _opt(m.price_tick),
            _opt(m.quantity_tick),
            _opt(m.min_quantity),
            _opt(m.min_notional),
        )
        for m in markets
    ]
    if fmt == "jsonl":
        out.writelines(
            json.dumps(dict(zip(_MARKET_FIELDS, r, strict=True)), separators=(",", ":")) + "\n"
            for r in rows
        )
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_MARKET_FIELDS)
        writer.writerows(rows)
    elif rows:
        widths = [max(len(n), *(len(r[i]) for r in rows)) for i, n in enumerate(_MARKET_FIELDS)]
        right = range(5, 9)
        out.write(table_line(_MARKET_FIELDS, widths, right) + "\n")
        out.writelines(table_line(r, widths, right) + "\n" for r in rows)


def _opt(value: object) -> str:
    return "" if value is None else str(value)


_COUNTED = {Channel.CANDLES: "candle", Channel.TRADES: "trade", Channel.BOOK: "book update"}
"""What a status event's ``count`` counts, by channel (values elsewhere)."""


def status_line(event: StatusEvent, label: str) -> str:
    """A status event for people: ``[reconnecting] SPOT_BTC_USDT 1m: <reason>`` (the channel's
    name where there is no interval ``label``: ``[stale] PERP_BTC_USDT open_interest: ...``)."""
    parts = [f"[{event.kind.value}] {event.symbol} {label or event.channel.value}"]
    if event.start is not None and event.end is not None:
        parts.append(format_span(event.start, event.end))
    if event.count is not None:
        unit = _COUNTED.get(event.channel, "value")
        parts.append(f"{event.count} {unit}{'s' * (event.count != 1)}")
    line = " ".join(parts)
    return f"{line}: {event.reason}" if event.reason else line


def status_record(event: StatusEvent, label: str) -> dict[str, object]:
    """A status event for programs (a jsonl line): ``type`` ``status``, its ``channel`` and
    ``kind``, the interval's ``label`` (None outside candles), times rendered as everywhere."""
    return {
        "type": "status",
        "channel": event.channel.value,
        "kind": event.kind.value,
        "symbol": event.symbol,
        "interval": label or None,
        "reason": event.reason,
        "start": None if event.start is None else format_ms(event.start),
        "end": None if event.end is None else format_ms(event.end),
        "count": event.count,
    }


def json_line(record: Mapping[str, object]) -> str:
    """One jsonl line, compact, as every writer writes them."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def same_terminal(a: TextIO, b: TextIO) -> bool:
    """Whether ``a`` and ``b`` write to the same terminal (then progress would tear the data)."""
    try:
        return (
            a.isatty()
            and b.isatty()
            and os.fstat(a.fileno()).st_rdev == os.fstat(b.fileno()).st_rdev
        )
    except (OSError, ValueError):
        return False


class Progress:
    """A one-line progress display on stderr, drawn only when stderr is a terminal that the data
    is not also going to.

    Progress is measured by open time reached within the requested range, which needs nothing
    but the batches themselves: batches arrive in ascending order."""

    def __init__(self, start: int, end: int, data: TextIO, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty() and not same_terminal(self._stream, data)
        self._start, self._end = start, end
        self._began = time.monotonic()
        self._drawn = False
        self.rows = 0
        self.batches = 0
        self.first: int | None = None
        self.last: int | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._began

    def update(self, batch: Sequence[OHLCV]) -> None:
        if not batch:
            return
        self.rows += len(batch)
        self.batches += 1
        if self.first is None:
            self.first = batch[0].open_time
        self.last = batch[-1].close_time
        if not self._enabled:
            return
        done = (batch[-1].close_time - self._start) / (self._end - self._start)
        done = min(max(done, 0.0), 1.0)
        elapsed = self.elapsed
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        bar = "#" * int(done * 30)
        self._stream.write(
            f"\r[{bar:<30}] {done:6.1%}  batches {self.batches}  rows {self.rows}  "
            f"{rate:,.0f} rows/s  ETA {format_seconds(eta)} "
        )
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the progress line, so that what follows starts on a clean line."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False
