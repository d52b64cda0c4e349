"""Writing candles, markets and progress for people (table) and programs (csv, jsonl).

Writers take records one batch at a time and write them at once, so a year of 1m candles never
sits in memory. Decimals are written as the exchange sent them: no float ever touches a price.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TextIO

from host_stub.spec import OHLCV, Market
from host_stub.times import format_ms

FORMATS = ("table", "csv", "jsonl")

_CANDLE_FIELDS = (
    "symbol",
    "interval",
    "open_time",
    "open_time_utc",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
)
_TABLE_WIDTHS = (16, 9, 14, 20, 14, 14, 14, 14, 18, 22)


def candle_row(c: OHLCV) -> tuple[str, ...]:
    return (
        c.symbol,
        str(c.interval),
        str(c.open_time),
        format_ms(c.open_time),
        str(c.open),
        str(c.high),
        str(c.low),
        str(c.close),
        str(c.volume),
        str(c.quote_volume),
    )


def candle_json(c: OHLCV, **extra: object) -> str:
    record: dict[str, object] = {
        "symbol": c.symbol,
        "interval": c.interval,
        "open_time": c.open_time,
        "close_time": c.close_time,
        "open": str(c.open),
        "high": str(c.high),
        "low": str(c.low),
        "close": str(c.close),
        "volume": str(c.volume),
        "quote_volume": str(c.quote_volume),
    }
    record.update(extra)
    return json.dumps(record, separators=(",", ":"))


class CandleWriter:
    """Writes candle batches to ``out`` in one of :data:`FORMATS`.

    With ``with_final`` (live streams) each candle carries whether it is final: a ``final``
    column holding ``final`` or nothing in table and csv, a boolean ``final`` in jsonl."""

    def __init__(self, out: TextIO, fmt: str, *, with_final: bool = False) -> None:
        self._out = out
        self._fmt = fmt
        self._with_final = with_final
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self._widths = _TABLE_WIDTHS + ((5,) if with_final else ())
        self._header_done = False

    def _header(self) -> None:
        if self._header_done:
            return
        self._header_done = True
        names = _CANDLE_FIELDS + (("final",) if self._with_final else ())
        if self._csv is not None:
            self._csv.writerow(names)
        elif self._fmt == "table":
            self._out.write(_table_line(names, self._widths) + "\n")

    def write(self, candles: Sequence[OHLCV], final: bool = False) -> None:
        self._header()
        if self._fmt == "jsonl":
            add = {"final": final} if self._with_final else {}
            self._out.write("".join(candle_json(c, **add) + "\n" for c in candles))
            return
        mark = (("final" if final else ""),) if self._with_final else ()
        rows = [candle_row(c) + mark for c in candles]
        if self._csv is not None:
            self._csv.writerows(rows)
        else:
            self._out.write("".join(_table_line(r, self._widths) + "\n" for r in rows))

    def finish(self) -> None:
        self._header()
        self._out.flush()


def _table_line(cells: Iterable[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def write_markets(out: TextIO, markets: Sequence[Market], fmt: str) -> None:
    names = (
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
        out.writelines(json.dumps(dict(zip(names, r, strict=True))) + "\n" for r in rows)
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    else:
        widths = (18, 5, 8, 6, 10, 12, 14, 12, 12)
        out.write(_table_line(names, widths) + "\n")
        out.writelines(_table_line(r, widths) + "\n" for r in rows)


def _opt(value: object) -> str:
    return "" if value is None else str(value)


class Progress:
    """A one-line progress display on stderr, shown only when stderr is a terminal.

    Progress is measured by open time reached within the requested range, which needs nothing
    but the batches themselves: batches arrive in ascending order."""

    def __init__(self, start: int, end: int, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._start, self._end = start, end
        self._began = time.monotonic()
        self.rows = 0
        self.batches = 0

    def update(self, batch: Sequence[OHLCV]) -> None:
        self.rows += len(batch)
        self.batches += 1
        if not self._enabled or not batch:
            return
        done = (batch[-1].close_time - self._start) / (self._end - self._start)
        done = min(max(done, 0.0), 1.0)
        elapsed = time.monotonic() - self._began
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        bar = "#" * int(done * 30)
        self._stream.write(
            f"\r[{bar:<30}] {done:6.1%}  batches {self.batches}  rows {self.rows}  "
            f"{rate:,.0f} rows/s  ETA {eta:5.1f}s "
        )
        self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
