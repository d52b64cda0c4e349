"""Running live streams for the command line: print them, bound the wait for a first
connection, report healing, stop them.

A stream that never connects is a failure the user must hear about (a wrong URL, a server that
is down, a WebSocket path retried forever), so the first connection has a deadline. Once
connected, a lost exchange is the plugin's to heal: the stream keeps running and stderr says so.
Several symbols are several streams of one channel, started together (the plugin shares their
connections) and written as one sequence of events, in the order they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Protocol

import aiohttp

from host_stub.loader import LoadedPlugin
from host_stub.output import status_line
from host_stub.spec import Channel, StatusEvent, StatusKind, Stream, StreamConfig, StreamEvent
from host_stub.times import format_seconds

DEFAULT_CONNECT_WITHIN = 30.0

_HEALING = {
    Channel.CANDLES: "missed candles will be filled from history",
    Channel.TRADES: "missed trades will be read from REST",
    Channel.BOOK: "the book will be re-synced from a snapshot",
}
"""What the plugin does about a lost connection, by channel (a fresh value for the others)."""


class NeverConnected(Exception):
    """The stream did not connect within its bound (or before it was due to end)."""


class EventSink(Protocol):
    """Where a stream's events go (``output.CandleWriter``, ``event_output.EventWriter``)."""

    def write_event(self, event: StreamEvent) -> None: ...

    def label(self, interval: int | None) -> str: ...


async def run_stream(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    configs: Sequence[StreamConfig],
    writer: EventSink,
    *,
    seconds: float | None,
    connect_within: float = DEFAULT_CONNECT_WITHIN,
    where: str = "the exchange",
    on_event: Callable[[StreamEvent], None] | None = None,
    report: bool = True,
) -> None:
    """Write the events of a stream per config to ``writer``, and their status to stderr, for
    ``seconds`` (None: until interrupted), then stop them. Raises :class:`NeverConnected` naming
    ``where`` (the WebSocket URL) and the last error when a stream made no connection within
    ``connect_within`` seconds. ``on_event`` sees every event too (the demo counts them).
    ``report=False`` leaves status events to the writer alone (a view that shows them itself
    on the terminal stderr would write over)."""
    streams = await _start(plugin, session, configs)
    symbols = {stream.id: config.symbol for stream, config in zip(streams, configs, strict=True)}
    waiting = set(symbols)
    """Streams that have not connected yet."""
    last_error = ""
    limit = min(connect_within, seconds) if seconds is not None else connect_within
    try:
        async with asyncio.timeout(seconds) as run_for:
            async with asyncio.timeout(connect_within) as connect_by:
                async with contextlib.aclosing(_merged(streams)) as events:
                    async for stream_id, event in events:
                        if isinstance(event, StatusEvent):
                            if event.kind is StatusKind.CONNECTED and stream_id in waiting:
                                waiting.discard(stream_id)
                                if not waiting:
                                    connect_by.reschedule(None)
                            elif event.kind is StatusKind.RECONNECTING and stream_id in waiting:
                                last_error = event.reason
                            if report:
                                _report(event, writer, stream_id not in waiting, limit)
                        writer.write_event(event)
                        if on_event is not None:
                            on_event(event)
    except TimeoutError:
        if not (run_for.expired() or connect_by.expired()):
            raise
    finally:
        for stream in streams:
            await plugin.call("stop_stream", stream_id=stream.id)
    if waiting:
        ended = "gave up" if connect_by.expired() else "stopped"
        which = ""
        if len(waiting) < len(symbols):
            names = ", ".join(symbols[i] for i in symbols if i in waiting)
            which = f" for {names} ({len(waiting)} of {len(symbols)} streams)"
        raise NeverConnected(
            f"no connection to {where} within {format_seconds(limit)}{which}; {ended} "
            f"(last error: {last_error or 'none reported; nothing answered'})"
        )


async def _start(
    plugin: LoadedPlugin, session: aiohttp.ClientSession, configs: Sequence[StreamConfig]
) -> list[Stream]:
    """Start every stream at once (the plugin batches their subscriptions); if one is refused,
    stop the others and raise its error."""
    started = await asyncio.gather(
        *(plugin.call("start_stream", session=session, config=c) for c in configs),
        return_exceptions=True,
    )
    streams = [s for s in started if not isinstance(s, BaseException)]
    refused = [s for s in started if isinstance(s, BaseException)]
    if refused:
        for stream in streams:
            await plugin.call("stop_stream", stream_id=stream.id)
        raise refused[0]
    return streams


async def _merged(
    streams: Sequence[Stream],
) -> AsyncGenerator[tuple[str, StreamEvent], None]:
    """The events of ``streams`` as they arrive, each with its stream's id; the first error a
    stream raises ends it all. Each stream is read by a task of its own, at most one event
    ahead, so a slow writer leaves the waiting to each stream's own queue (which conflates
    what may be conflated)."""
    queue: asyncio.Queue[tuple[str, StreamEvent] | Exception | None] = asyncio.Queue(
        maxsize=len(streams)
    )

    async def forward(stream: Stream) -> None:
        try:
            async for event in stream:
                await queue.put((stream.id, event))
        except Exception as exc:  # handed to the reader, who raises it
            await queue.put(exc)
        else:
            await queue.put(None)  # this stream ended (it was stopped)

    tasks = [asyncio.create_task(forward(stream)) for stream in streams]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _report(event: StatusEvent, writer: EventSink, connected: bool, limit: float) -> None:
    line = status_line(event, writer.label(event.interval))
    if event.kind is StatusKind.RECONNECTING:
        healing = _HEALING.get(event.channel, "a fresh value follows")
        line += (
            f" (still running: reconnecting, {healing})"
            if connected
            else f" (not connected yet; giving up {format_seconds(limit)} after the start)"
        )
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
