"""Running one live stream for the command line: print it, bound the wait for a first
connection, report healing, stop it.

A stream that never connects is a failure the user must hear about (a wrong URL, a server that
is down, a WebSocket path retried forever), so the first connection has a deadline. Once
connected, a lost exchange is the plugin's to heal: the stream keeps running and stderr says so.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import aiohttp

from host_stub.loader import LoadedPlugin
from host_stub.output import CandleWriter, status_line
from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig, StreamEvent
from host_stub.times import format_seconds

DEFAULT_CONNECT_WITHIN = 30.0


class NeverConnected(Exception):
    """The stream did not connect within its bound (or before it was due to end)."""


async def run_stream(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    config: StreamConfig,
    writer: CandleWriter,
    *,
    seconds: float | None,
    connect_within: float = DEFAULT_CONNECT_WITHIN,
    where: str = "the exchange",
    on_event: Callable[[StreamEvent], None] | None = None,
) -> None:
    """Write a stream's candles to ``writer`` and its status to stderr for ``seconds`` (None:
    until interrupted), then stop it. Raises :class:`NeverConnected` naming ``where`` (the
    WebSocket URL) and the last error when no connection was made within ``connect_within``
    seconds. ``on_event`` sees every event too (the demo counts them)."""
    stream = await plugin.call("start_stream", session=session, config=config)
    connected = False
    last_error = ""
    limit = min(connect_within, seconds) if seconds is not None else connect_within
    try:
        async with asyncio.timeout(seconds) as run_for:
            async with asyncio.timeout(connect_within) as connect_by:
                async for event in stream:
                    if isinstance(event, CandleEvent):
                        writer.write([event.candle], event.final)
                        writer.finish()
                    elif isinstance(event, StatusEvent):
                        if event.kind is StatusKind.CONNECTED and not connected:
                            connected = True
                            connect_by.reschedule(None)
                        elif event.kind is StatusKind.RECONNECTING and not connected:
                            last_error = event.reason
                        _report(event, writer, connected, limit)
                    if on_event is not None:
                        on_event(event)
    except TimeoutError:
        if not (run_for.expired() or connect_by.expired()):
            raise
    finally:
        await plugin.call("stop_stream", stream_id=stream.id)
    if not connected:
        ended = "gave up" if connect_by.expired() else "stopped"
        raise NeverConnected(
            f"no connection to {where} within {format_seconds(limit)}; {ended} "
            f"(last error: {last_error or 'none reported; nothing answered'})"
        )


def _report(event: StatusEvent, writer: CandleWriter, connected: bool, limit: float) -> None:
    writer.write_status(event)
    line = status_line(event, writer.label(event.interval))
    if event.kind is StatusKind.RECONNECTING:
        line += (
            " (still running: reconnecting, missed candles will be filled from history)"
            if connected
            else f" (not connected yet; giving up {format_seconds(limit)} after the start)"
        )
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
