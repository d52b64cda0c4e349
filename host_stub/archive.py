"""``woox-host`` over the candle store: ``sync``, ``history --store`` and ``chart``.

The store (``host_stub/store``) and the chart (``host_stub/chart``) are optional extras; they are
imported only when a command asks for them, so a host without pyarrow or matplotlib runs every
other command, and one that asks is told which extra to install.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import aiohttp

from host_stub.failures import PROG, UsageError
from host_stub.hosting import endpoints_from, interval_of, intervals, now_ms, plugin_session
from host_stub.loader import LoadedPlugin
from host_stub.spec import OHLCV, HistoryRequest
from host_stub.times import current_zone, format_span

if TYPE_CHECKING:
    from host_stub.store.candle_store import CandleStore, Fetch


def optional(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` from an optional extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"{what} needs the '{extra}' extra ({exc.name} is not installed): "
            f"pip install 'woox-datasource[{extra}]'"
        ) from None


def open_store(directory: str) -> CandleStore:
    candle_store = optional("host_stub.store.candle_store", "store", "--store")
    store: CandleStore = candle_store.CandleStore(Path(directory).expanduser())
    return store


def fetcher(plugin: LoadedPlugin, session: aiohttp.ClientSession) -> Fetch:
    def fetch(request: HistoryRequest) -> AsyncIterator[Sequence[OHLCV]]:
        batches: AsyncIterator[Sequence[OHLCV]] = plugin.call(
            "fetch_history", session=session, request=request
        )
        return batches

    return fetch


async def sync_range(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    store: CandleStore,
    symbol: str,
    interval: int,
    start: int,
    end: int,
) -> Any:
    """Bring ``[start, end)`` into the store, one stderr line per file written."""

    def written(stored: Any) -> None:
        sys.stderr.write(
            f"{PROG}: stored {stored.rows} candles {format_span(stored.start, stored.end)}\n"
        )
        sys.stderr.flush()

    return await store.sync(
        plugin.name, symbol, interval, start, end, fetcher(plugin, session), on_file=written
    )


async def cmd_sync(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    from host_stub.cli import history_range

    store = open_store(args.store)
    now = now_ms()
    start, end = history_range(args, now)
    interval = interval_of(plugin, args.interval)
    async with plugin_session(plugin, endpoints_from(args), args.allow) as session:
        report = await sync_range(plugin, session, store, args.symbol, interval, start, end)
    covered = format_span(*report.covered) if report.covered else "nothing yet"
    if report.files:
        what = (
            f"{report.rows} candles in {len(report.files)} new file{'s' * (len(report.files) > 1)}"
        )
    elif report.fetched:
        what = "nothing new (no candle has closed since the last sync)"
    else:
        what = "nothing to fetch"
    sys.stderr.write(f"{PROG}: {what}; the store holds {covered} ({args.store})\n")
    return 0


async def stored_candles(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    directory: str,
    request: HistoryRequest,
    now: int,
) -> list[OHLCV]:
    """What ``request`` asks for, read from the store after fetching only what it lacks.

    For the latest N the store needs a range: the nominal span of N candles (plus a tenth and
    two candles for calendar months and clock skew) before ``end``, of which the last N are
    returned."""
    store = open_store(directory)
    step = request.interval * 1000
    end = request.end if request.end is not None else now
    if request.limit is None:
        assert request.start is not None
        start = request.start
    elif request.start is not None:
        raise UsageError("--store takes a range or the latest N candles, not N from a start")
    else:
        start = max(0, end - request.limit * step * 11 // 10 - 2 * step)
    await sync_range(plugin, session, store, request.symbol, request.interval, start, end)
    candles: list[OHLCV] = await asyncio.to_thread(
        store.read_candles, plugin.name, request.symbol, request.interval, start, end
    )
    return candles if request.limit is None else candles[-request.limit :]


async def cmd_chart(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    chart = optional("host_stub.chart", "chart", "woox-host chart")
    path = Path(args.out)
    try:
        chart.chart_kind(path)  # a wrong suffix is refused before anything is fetched
    except chart.ChartError as exc:
        raise UsageError(str(exc)) from None
    now = now_ms()
    interval = interval_of(plugin, args.interval)
    request = HistoryRequest(args.symbol, interval, limit=args.last)
    async with plugin_session(plugin, endpoints_from(args), args.allow) as session:
        if args.store:
            candles = await stored_candles(plugin, session, args.store, request, now)
        else:
            candles = [c async for batch in fetcher(plugin, session)(request) for c in batch]
    if not candles:
        raise UsageError(f"no closed {args.interval} candles of {args.symbol} to chart")
    _, labels = intervals(plugin)
    label = labels.get(interval, f"{interval}s")
    title = f"{candles[0].symbol} {label} ({plugin.name}) {format_span(candles[0].open_time, candles[-1].close_time)}"  # fmt: skip # noqa: E501
    await asyncio.to_thread(chart.render, candles, path, title, current_zone())
    sys.stderr.write(f"{PROG}: charted {len(candles)} candles to {path}\n")
    return 0
