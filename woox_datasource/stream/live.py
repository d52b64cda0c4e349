"""The consumer's side of a stream, for every channel: iteration, stop, failure, status events.

A :class:`LiveStream` is what ``start_stream`` returns. Its feed offers it events (never
blocking: the socket reader is on the other end); it keeps them in its own bounded
:class:`~woox_datasource.stream.queue.EventQueue` until the consumer takes them. Each channel
subclasses it with the offers its events need and the policy that keeps the queue bounded
(conflate, merge, re-read from history, or count and report what was dropped); status events go
through :meth:`LiveStream.offer_status` here, the same for every channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import attrs

from host_stub.spec import StatusEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource.stream.feed import Feed
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.queue import EventQueue
from woox_datasource.stream.stats import StreamStats
from woox_datasource.stream.tasks import OwnedTasks

KEEP_WHEN_FULL = frozenset({StatusKind.GAP_FILLED, StatusKind.GAP_UNFILLABLE,
                            StatusKind.BACKFILLED, StatusKind.RESYNCED})  # fmt: skip
"""Statuses kept even past capacity (rare, and they describe data); connection-health statuses
are dropped instead while the consumer is that far behind."""


@attrs.frozen
class StreamEnv:
    """What the manager gives every stream it starts."""

    options: StreamOptions
    stats: StreamStats
    stop: Callable[[str], Awaitable[None]]
    """Stops a stream by id (``StreamManager.stop``)."""


class LiveStream:
    """A live stream (satisfies :class:`host_stub.spec.Stream`): ``async for event in stream``.

    Iteration ends after :meth:`StreamManager.stop` (or :meth:`aclose`); it raises
    :class:`~host_stub.spec.UnknownSymbol` or :class:`~host_stub.spec.StreamFailed` once if the
    stream fails for good. ``symbol`` is the symbol it was asked for."""

    def __init__(
        self,
        stream_id: str,
        *,
        symbol: str,
        config: StreamConfig,
        env: StreamEnv,
        queue: EventQueue | None = None,
    ) -> None:
        self._id = stream_id
        self.symbol = symbol
        self.config = config
        self._options = env.options
        self._stats = env.stats
        self._stop = env.stop
        self._queue = queue if queue is not None else EventQueue(env.options.queue_capacity)
        self._error: BaseException | None = None
        self._tasks = OwnedTasks(stream_id)
        self.ended = False

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._id} queued={len(self._queue)} ended={self.ended}>"

    # -- consumer side ------------------------------------------------------------------------

    def __aiter__(self) -> LiveStream:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self._queue.get()
        if event is not None:
            return event  # type: ignore[no-any-return]
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    @property
    def pending(self) -> int:
        """Events waiting for the consumer."""
        return len(self._queue)

    async def aclose(self) -> None:
        """Stop this stream (same as ``StreamManager.stop(stream.id)``)."""
        await self._stop(self._id)

    async def __aenter__(self) -> LiveStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- producer side (called by the feed, never blocking) -----------------------------------

    def attached(self, feed: Feed[Any]) -> None:
        """The stream now hears ``feed`` (channels that need their feed keep it here)."""

    def offer_status(self, event: StatusEvent) -> None:
        if self.ended:
            return
        if self._queue.push(event):
            return
        if event.kind in KEEP_WHEN_FULL:
            self._queue.push_force(event)
        else:
            self._stats.statuses_dropped += 1

    # -- work of its own ------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run ``work`` for this stream (catch-up reads); cancelled when it stops or fails."""
        return self._tasks.spawn(work, what)

    # -- ending -------------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """End with ``error``: queued events are still delivered, then iteration raises it."""
        if self.ended:
            return
        self.ended = True
        self._error = error
        self._queue.close(discard=False)
        self._tasks.cancel()

    def shutdown(self) -> list[asyncio.Task[None]]:
        """End iteration now (stop): queued events are discarded, the stream's tasks cancelled
        and returned (to be awaited)."""
        self.ended = True
        self._queue.close(discard=True)
        return self._tasks.cancel()
