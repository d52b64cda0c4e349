"""One (plugin, symbol, interval) directory of the store: its files and the ranges they cover.

Layout, hive-style so that pandas, polars, DuckDB, Spark or Dask read the store as one table::

    ROOT/plugin=woox/symbol=SPOT_BTC_USDT/interval=60/1735689600000_1736553600000.parquet

A file is named by the range it covers, ``START_END`` in epoch ms, half-open by open time: it holds
every candle the exchange had opening in ``[START, END)``, possibly none (a stretch before a
listing is covered by an empty file, so it is never asked for again). The files of a partition
tile one contiguous range with no gap and no overlap; that tiling *is* the store's record of what
it asked the exchange for, and each file's Parquet metadata repeats it, so there is no separate
index to fall out of step. Everything else the store writes starts with ``.`` (its lock, files
being written), which Parquet readers skip.

Every file is written to a temporary name, flushed to disk and renamed over, so a reader or an
interrupted sync only ever sees whole files. Anything in a partition the store did not write, or
cannot read, is reported and left alone: the store refuses to write next to it rather than guess.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.parquet as pq

from host_stub.store import codec
from host_stub.store.errors import StoreCorrupt, StoreError

FORMAT = 1
META_KEY = b"host_stub.store"
_NAME = re.compile(r"(\d{1,15})_(\d{1,15})\.parquet")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


@attrs.frozen
class StoredFile:
    """One data file: the range it covers, its row count and its decimal scales."""

    path: Path
    start: int
    end: int
    rows: int
    scales: codec.Scales


def file_name(start: int, end: int) -> str:
    return f"{start}_{end}.parquet"


def checked_value(what: str, value: str) -> str:
    """A plugin name or symbol as a directory name: refused if it could escape or hide."""
    if not _SAFE.fullmatch(value) or ".." in value:
        raise StoreError(
            f"{what} {value!r} cannot name a store directory: use letters, digits, '_', '-' "
            "and '.', starting with a letter or digit"
        )
    return value


@attrs.frozen
class Partition:
    root: Path
    plugin: str
    symbol: str
    interval: int

    @property
    def directory(self) -> Path:
        return (
            self.root
            / f"plugin={checked_value('plugin', self.plugin)}"
            / f"symbol={checked_value('symbol', self.symbol)}"
            / f"interval={self.interval}"
        )

    # -- reading the tiling -------------------------------------------------------------------

    def scan(self) -> list[StoredFile]:
        """The partition's data files in ascending order, checked: names, footers, metadata,
        schema, and a tiling with no gap or overlap. Raises :class:`StoreCorrupt` listing every
        problem. Reads only the footers (cheap); blocking I/O, so call it off the event loop."""
        files, problems = self.inspect()
        if problems:
            raise StoreCorrupt(self.directory, problems)
        return files

    def inspect(self) -> tuple[list[StoredFile], list[str]]:
        """The partition's valid data files (ascending) and its problems, one line each."""
        directory = self.directory
        if not directory.exists():
            return [], []
        files: list[StoredFile] = []
        problems: list[str] = []
        for path in sorted(directory.iterdir()):
            if path.name.startswith((".", "_")):
                continue
            try:
                files.append(self._check(path))
            except _Bad as exc:
                problems.append(f"{path.name}: {exc}")
        files.sort(key=lambda f: f.start)
        for a, b in itertools.pairwise(files):
            if a.end != b.start:
                kind = "overlap" if a.end > b.start else "gap"
                problems.append(f"{a.path.name} and {b.path.name}: {kind} between them")
        return files, problems

    def _check(self, path: Path) -> StoredFile:
        match = _NAME.fullmatch(path.name)
        if not path.is_file() or match is None:
            raise _Bad("not a file this store writes (names are START_END.parquet in epoch ms)")
        start, end = int(match[1]), int(match[2])
        try:
            meta = pq.read_metadata(path)
            file_schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as exc:
            raise _Bad(f"unreadable as Parquet ({exc})") from None
        raw = (file_schema.metadata or {}).get(META_KEY)
        if raw is None:
            raise _Bad("a Parquet file without this store's metadata (written by something else)")
        try:
            info = json.loads(raw)
        except ValueError:
            raise _Bad("this store's metadata is not JSON") from None
        expected = self._identity(start, end)
        wrong = {k: info.get(k) for k, v in expected.items() if info.get(k) != v}
        if wrong:
            raise _Bad(f"its metadata disagrees with its name and directory: {wrong}")
        try:
            scales = codec.scales_of(file_schema)
        except (KeyError, AttributeError):
            raise _Bad("its columns are not this store's") from None
        if not file_schema.remove_metadata().equals(codec.schema(scales)):
            raise _Bad(f"its columns are not this store's: {file_schema.remove_metadata()}")
        if start >= end or meta.num_rows != info.get("rows"):
            raise _Bad("its range is empty or its row count disagrees with its metadata")
        return StoredFile(path, start, end, meta.num_rows, scales)

    def _identity(self, start: int, end: int) -> dict[str, object]:
        """What a file's metadata says it is: the store's format, its partition, its range."""
        return {
            "format": FORMAT,
            "plugin": self.plugin,
            "symbol": self.symbol,
            "interval": self.interval,
            "start": start,
            "end": end,
        }

    # -- writing --------------------------------------------------------------------------------

    def write(self, start: int, end: int, table: pa.Table) -> StoredFile:
        """Write ``table`` (candles opening in ``[start, end)``) as one file, atomically.
        Blocking I/O: call it off the event loop."""
        opens = codec.times(table, "open_time")
        if any(not start <= t < end for t in opens) or opens != sorted(set(opens)):
            raise StoreError(
                f"refusing to store candles outside [{start}, {end}) or out of order "
                f"(first {opens[:1]}, last {opens[-1:]})"
            )
        info = {**self._identity(start, end), "rows": table.num_rows}
        table = table.replace_schema_metadata({META_KEY: json.dumps(info).encode()})
        path = self.directory / file_name(start, end)
        atomic_write(path, table)
        return StoredFile(path, start, end, table.num_rows, codec.scales_of(table.schema))

    @staticmethod
    def rewrite(stored: StoredFile, scales: codec.Scales) -> StoredFile:
        """Widen one file's decimal scales in place (atomically), keeping every value."""
        table = pq.read_table(stored.path)
        metadata = table.schema.metadata
        widened = codec.widen(table.replace_schema_metadata(None), scales)
        atomic_write(stored.path, widened.replace_schema_metadata(metadata))
        return attrs.evolve(stored, scales=dict(scales))


def partitions(root: Path) -> list[Partition]:
    """Every partition directory under ``root`` (the hive layout's three levels)."""
    found: list[Partition] = []
    for directory in sorted(root.glob("plugin=*/symbol=*/interval=*")):
        interval = directory.name.removeprefix("interval=")
        if directory.is_dir() and interval.isdigit():
            plugin = directory.parent.parent.name.removeprefix("plugin=")
            symbol = directory.parent.name.removeprefix("symbol=")
            found.append(Partition(root, plugin, symbol, int(interval)))
    return found


class _Bad(Exception):
    """Why one file is not a valid part of the partition."""


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable: without this, a power cut may forget it happened."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` whole or not at all: a temporary name, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_directory(path.parent)
