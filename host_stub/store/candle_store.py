"""The host's candle store: sync final candles from a plugin into Parquet, read them back.

A sync extends a partition's covered range to include the requested one, fetching only what it
lacks: the stretch before the covered range (written newest file first, so that the covered range
stays contiguous however the sync ends) and the stretch after it (oldest first). Each file is
fetched, checked and written whole before the next is asked for, so a sync that is interrupted,
by Ctrl-C or SIGKILL alike, leaves a contiguous, exact store covering a prefix of what it was
asked for, and a rerun continues from there.

Every decimal column has one scale across the whole store, the smallest that holds every value
stored so far: a dataset reader (pandas, polars) takes one file's schema for all and refuses to
narrow another's, so mixed scales would make the directory unreadable as one table. A value
finer than any before widens every file (rewritten exactly, one atomic file at a time; a widening
cut short is completed by the next sync). One sync writes at a time (a lock at the root).

The plugin returns closed candles only, but the store cannot see the exchange's clock: a stretch
ending in the last two intervals (plus a minute for clock skew) is recorded only up to the close of
the last candle received, so the next sync asks again for what may not have existed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.dataset as ds

from host_stub.spec import OHLCV, HistoryRequest
from host_stub.store import codec
from host_stub.store.errors import StoreError
from host_stub.store.partition import Partition, StoredFile, partitions

Fetch = Callable[[HistoryRequest], AsyncIterator[Sequence[OHLCV]]]
"""How the store asks for candles: the plugin's ``fetch_history`` bound to a session."""

SKEW_MS = 60_000


@attrs.define
class SyncReport:
    """What a sync did: the ranges it asked the plugin for, the files and rows it wrote, and the
    partition's covered range afterwards."""

    fetched: list[tuple[int, int]] = attrs.field(factory=list)
    files: list[StoredFile] = attrs.field(factory=list)
    covered: tuple[int, int] | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


class CandleStore:
    """Candles per (plugin, symbol, interval) under ``root``; ``rows_per_file`` sizes the files
    (and so how much an interrupted sync may have to fetch again)."""

    def __init__(self, root: Path | str, *, rows_per_file: int = 100_000) -> None:
        if rows_per_file < 1:
            raise ValueError("rows_per_file must be >= 1")
        self.root = Path(root)
        self.rows_per_file = rows_per_file

    def partition(self, plugin: str, symbol: str, interval: int) -> Partition:
        return Partition(self.root, plugin, symbol, interval)

    # -- reading (blocking: call from a thread inside an event loop) --------------------------

    def covered(self, plugin: str, symbol: str, interval: int) -> tuple[int, int] | None:
        """The range ``[start, end)`` the store has asked for, or None if nothing yet."""
        files = self.partition(plugin, symbol, interval).scan()
        return (files[0].start, files[-1].end) if files else None

    def read_table(
        self,
        plugin: str,
        symbol: str,
        interval: int,
        start: int | None = None,
        end: int | None = None,
    ) -> pa.Table:
        """Stored candles opening in ``[start, end)`` (all of them by default), ascending, as an
        Arrow table with exact decimal columns."""
        files = self.partition(plugin, symbol, interval).scan()
        files = [
            f for f in files if (start is None or f.end > start) and (end is None or f.start < end)
        ]
        if not files:
            return codec.to_table([])
        target = codec.schema(codec.widest(*(f.scales for f in files)))
        dataset = ds.dataset([str(f.path) for f in files], schema=target, format="parquet")
        condition = None
        if start is not None:
            condition = ds.field("open_time") >= pa.scalar(start, codec.TIME)
        if end is not None:
            before = ds.field("open_time") < pa.scalar(end, codec.TIME)
            condition = before if condition is None else condition & before
        return dataset.to_table(filter=condition).sort_by("open_time")

    def read_candles(
        self,
        plugin: str,
        symbol: str,
        interval: int,
        start: int | None = None,
        end: int | None = None,
    ) -> list[OHLCV]:
        table = self.read_table(plugin, symbol, interval, start, end)
        return codec.to_candles(table, symbol, interval)

    # -- syncing -------------------------------------------------------------------------------

    async def sync(
        self,
        plugin: str,
        symbol: str,
        interval: int,
        start: int,
        end: int,
        fetch: Fetch,
        *,
        now_ms: int | None = None,
        on_file: Callable[[StoredFile], None] | None = None,
    ) -> SyncReport:
        """Extend the stored range to cover ``[start, end)``, fetching only what is missing."""
        if start >= end:
            raise StoreError(f"empty or reversed range: start {start} must be before end {end}")
        part = self.partition(plugin, symbol, interval)
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        report = SyncReport()
        with self._locked():
            files = await asyncio.to_thread(part.scan)
            scales = await asyncio.to_thread(self._unify, None)
            files = await asyncio.to_thread(part.scan)
            plan: list[tuple[int, int, bool]] = []  # (start, end, backward)
            if not files:
                plan.append((start, end, False))
            else:
                if start < files[0].start:
                    plan.append((start, files[0].start, True))
                if end > files[-1].end:
                    plan.append((files[-1].end, end, False))
            for low, high, backward in plan:
                for chunk_start, chunk_end in self._chunks(interval, low, high, backward):
                    report.fetched.append((chunk_start, chunk_end))
                    table, last_close = await self._fetch(fetch, symbol, interval, chunk_start, chunk_end)  # fmt: skip # noqa: E501
                    record_end = chunk_end
                    if chunk_end > now - 2 * interval * 1000 - SKEW_MS:
                        record_end = min(chunk_end, last_close or chunk_start)
                    if record_end <= chunk_start:
                        break
                    own = codec.scales_of(table.schema)
                    if scales is None or codec.widest(scales, own) != scales:
                        scales = await asyncio.to_thread(self._unify, own)
                    assert scales is not None
                    table = codec.widen(table, scales)
                    stored = await asyncio.to_thread(part.write, chunk_start, record_end, table)
                    report.files.append(stored)
                    if on_file is not None:
                        on_file(stored)
                    if record_end < chunk_end:
                        break
            files = await asyncio.to_thread(part.scan)
        report.covered = (files[0].start, files[-1].end) if files else None
        return report

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's lock (one writer at a time; the OS releases it if the process dies,
        even by SIGKILL) and clear the temporary files a killed writer left behind."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"another sync is writing the store at {self.root}; wait for it to finish"
                ) from None
            try:
                for leftover in self.root.glob("plugin=*/symbol=*/interval=*/.*.tmp"):
                    leftover.unlink()
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _unify(self, also: codec.Scales | None) -> codec.Scales | None:
        """The store's decimal scales, widened to hold ``also`` too, with every stored file
        brought to them (completing a widening an interrupted sync began). Blocking I/O."""
        stored = [f for part in partitions(self.root) for f in part.inspect()[0]]
        all_scales = [f.scales for f in stored] + ([also] if also is not None else [])
        if not all_scales:
            return None
        scales = codec.widest(*all_scales)
        for f in stored:
            if f.scales != scales:
                Partition.rewrite(f, scales)
        return scales

    def _chunks(self, interval: int, low: int, high: int, backward: bool) -> list[tuple[int, int]]:
        """``[low, high)`` cut into file-sized stretches, in the order they must be written."""
        span = self.rows_per_file * interval * 1000
        cuts = [*range(low, high, span), high]
        chunks = list(itertools.pairwise(cuts))
        return chunks[::-1] if backward else chunks

    async def _fetch(
        self, fetch: Fetch, symbol: str, interval: int, start: int, end: int
    ) -> tuple[pa.Table, int | None]:
        """Candles of ``[start, end)`` as one table, checked, and the last one's close time."""
        tables: list[pa.Table] = []
        last: OHLCV | None = None
        async with aclosing(fetch(HistoryRequest(symbol, interval, start, end))) as batches:  # type: ignore[type-var]
            async for batch in batches:
                for candle in batch:
                    if candle.symbol != symbol or candle.interval != interval:
                        raise StoreError(
                            f"the plugin answered {symbol!r} at {interval}s with a candle of "
                            f"{candle.symbol!r} at {candle.interval}s; sync with the plugin's "
                            f"own spelling, {candle.symbol!r}"
                        )
                    if not start <= candle.open_time < end or (
                        last is not None and candle.open_time <= last.open_time
                    ):
                        raise StoreError(
                            f"the plugin broke the history contract: candle at "
                            f"{candle.open_time} outside [{start}, {end}) or out of order"
                        )
                    last = candle
                if batch:
                    tables.append(await asyncio.to_thread(codec.to_table, batch))
        if not tables:
            return codec.to_table([]), None
        scales = codec.widest(*(codec.scales_of(t.schema) for t in tables))
        table = pa.concat_tables([codec.widen(t, scales) for t in tables])
        return table, last.close_time if last is not None else None
