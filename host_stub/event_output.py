"""Writing a live stream of any channel, one or several symbols, as table, csv or jsonl; and
what a plugin's channels are.

A stream command has one channel, so its output has one shape: a csv header that is the
channel's (``event_rows.LAYOUTS``, written even when no event came), jsonl lines that each carry
a ``type``, a table with the symbol in its title line (or, for several symbols, in a column).
Status events are jsonl lines (``type`` ``status``) in jsonl; in csv and the table they go to
stderr only, so the columns stay one shape and a csv file stays one table. Candles keep the
format ``output.CandleWriter`` has always written.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from typing import Final, TextIO

from host_stub import event_rows as rows
from host_stub.output import FORMATS, CandleWriter, Table, json_line, status_record
from host_stub.spec import (
    OHLCV,
    BookEvent,
    CandleEvent,
    Channel,
    ChannelInfo,
    StatusEvent,
    StreamConfig,
    StreamEvent,
)
from host_stub.times import format_ms, zone_label

MIN_DECIMAL_WIDTH: Final = 8
"""A live table cannot measure its columns in advance: prices and sizes get this much room from
the start, so that the usual one-digit-longer value does not push its row out of line."""


class EventWriter:
    """Writes the events of the streams ``configs`` asks for (one channel, one config per
    symbol) to ``out`` in one of :data:`~host_stub.output.FORMATS`."""

    def __init__(
        self,
        out: TextIO,
        fmt: str,
        configs: Sequence[StreamConfig],
        labels: Mapping[int, str],
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        if not configs or len({c.channel for c in configs}) != 1:
            raise ValueError("an EventWriter writes one channel's streams")
        first = configs[0]
        self._out = out
        self._fmt = fmt
        self._labels = labels
        self._several = len(configs) > 1
        self.channel = first.channel
        self._candles: CandleWriter | None = None
        if self.channel is Channel.CANDLES:
            self._candles = CandleWriter(
                out, fmt, labels, with_final=True, symbol_column=self._several
            )
            return
        self._layout = rows.LAYOUTS[self.channel]
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self._header_written = False
        self._columns = self._layout.fields[0 if self._several else 1 :]
        time_width = len(format_ms(1_700_000_000_123))  # a time with milliseconds, in the zone
        widths = {name: time_width for name in self._layout.times}
        widths.update((name, MIN_DECIMAL_WIDTH) for name in self._layout.decimals)
        right = [i for i, name in enumerate(self._columns) if name in self._layout.numbers]
        self._table = Table(out, self._columns, right, widths)
        variant = " rpi" if first.rpi else ""
        variant += f" {first.depth}" if self.channel is Channel.BOOK else ""
        self._named = f"{self.channel.value}{variant}"
        self._updates: dict[str, int] = {}
        """Book events so far, per symbol (the csv's ``update`` column)."""

    def label(self, interval: int | None) -> str:
        """An interval's label (blank for None: channels other than candles have none)."""
        return "" if interval is None else self._labels.get(interval, str(interval))

    def write_candles(self, candles: Sequence[OHLCV], final: bool) -> None:
        """History written ahead of a candle stream (``--last``)."""
        assert self._candles is not None, "candles ahead of a stream of another channel"
        self._candles.write(candles, final)

    def write_event(self, event: StreamEvent) -> None:
        """Write one event of the stream and flush it (a live stream is read as it comes)."""
        if isinstance(event, StatusEvent):
            self.write_status(event)
        elif isinstance(event, CandleEvent):
            assert self._candles is not None, "a candle in a stream of another channel"
            self._candles.write([event.candle], event.final)
        else:
            self._write(event)
        self._out.flush()

    def write_status(self, event: StatusEvent) -> None:
        """In jsonl a line of its own; csv and the table leave status events to stderr."""
        if self._fmt == "jsonl":
            self._out.write(json_line(status_record(event, self.label(event.interval))))

    def finish(self) -> None:
        """Flush; a csv that received no event still gets its header."""
        if self._candles is not None:
            self._candles.finish()
            return
        if self._csv is not None and not self._header_written:
            self._csv.writerow(self._layout.fields)
            self._header_written = True
        self._out.flush()

    def _write(self, event: rows.ChannelEvent) -> None:
        layout = self._layout
        if self._fmt == "jsonl":
            self._out.write(json_line(rows.event_record(event)))
            return
        if isinstance(event, BookEvent):
            update = self._updates[event.symbol] = self._updates.get(event.symbol, 0) + 1
            values = rows.book_values(event, update)
        else:
            values = [rows.event_values(event)]
        if self._csv is not None:
            if not self._header_written:
                self._csv.writerow(layout.fields)
                self._header_written = True
            self._csv.writerows(rows.cells(layout, v) for v in values)
            return
        skip = len(layout.fields) - len(self._columns)  # the symbol, when it is in the title
        lines = [rows.cells(layout, v, table=True)[skip:] for v in values]
        named = self._named if self._several else f"{rows.event_symbol(event)} {self._named}"
        self._table.write(lines, title=f"{named} (times {zone_label()})")


CHANNEL_FIELDS: Final = ("channel", "kinds", "depths", "backfill", "rpi")


def write_channels(out: TextIO, channels: Sequence[ChannelInfo], fmt: str) -> None:
    """What a plugin declares in ``DatasourceInfo.channels``: per channel, the market kinds it
    serves, the book depths, whether ``--backfill`` and ``--rpi`` can be served."""
    if fmt == "jsonl":
        out.writelines(
            json_line(
                {
                    "channel": info.channel.value,
                    "kinds": [kind.value for kind in info.kinds],
                    "depths": list(info.depths),
                    "backfill": info.backfill,
                    "rpi": info.rpi,
                }
            )
            for info in channels
        )
        return
    yes, no = ("true", "false") if fmt == "csv" else ("yes", "no")
    table = [
        (
            info.channel.value,
            ",".join(kind.value for kind in info.kinds),
            ",".join(str(depth) for depth in info.depths),
            yes if info.backfill else no,
            yes if info.rpi else no,
        )
        for info in channels
    ]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CHANNEL_FIELDS)
        writer.writerows(table)
    else:
        Table(out, CHANNEL_FIELDS, ()).write(table)
