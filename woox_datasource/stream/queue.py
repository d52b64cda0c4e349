"""The per-stream event queue: bounded, conflating provisional updates, never dropping finals.

A consumer that falls behind must see the newest provisional state of each candle, not a backlog
of superseded ones, so a provisional update replaces the one still waiting for the same candle
(in place, keeping its position). A final removes the waiting provisional of its candle: the
consumer never sees a provisional after the final of the same candle. Finals and status events
are never dropped here; when they would exceed the capacity :meth:`EventQueue.push` refuses them
and the stream re-reads those finals from history once the consumer catches up, which keeps
memory bounded however long the consumer stalls.
"""

from __future__ import annotations

import asyncio
from collections import deque

from host_stub.spec import CandleEvent, StatusEvent, StreamEvent


class _Cell:
    """A queue slot; ``event`` is None once a final has superseded the provisional in it."""

    __slots__ = ("event",)

    def __init__(self, event: StreamEvent | None) -> None:
        self.event = event


class EventQueue:
    """Single-consumer queue of :data:`StreamEvent` for one stream (one symbol and interval)."""

    __slots__ = ("_cells", "_closed", "_count", "_getter", "_provisional", "_space", "capacity",
                 "conflated")  # fmt: skip

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.conflated = 0
        self._cells: deque[_Cell] = deque()
        self._provisional: dict[int, _Cell] = {}
        self._count = 0
        self._getter: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        """Events waiting (superseded provisionals not counted)."""
        return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake(self) -> None:
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def push_provisional(self, event: CandleEvent) -> bool:
        """Queue a provisional update, replacing a waiting one of the same candle (then True)."""
        if self._closed:
            return False
        key = event.candle.open_time
        cell = self._provisional.get(key)
        if cell is not None:
            cell.event = event
            self.conflated += 1
            return True
        cell = _Cell(event)
        self._provisional[key] = cell
        self._cells.append(cell)
        self._count += 1
        self._wake()
        return False

    def push(self, event: StreamEvent) -> bool:
        """Queue a final or status event; False (nothing queued) if the queue is full."""
        if self._closed:
            return True  # nobody will read it; not a reason to start catching up
        if type(event) is CandleEvent:
            cell = self._provisional.pop(event.candle.open_time, None)
            if cell is not None:
                cell.event = None
                self._count -= 1
        if self._count >= self.capacity:
            return False
        self._cells.append(_Cell(event))
        self._count += 1
        self._wake()
        return True

    def push_force(self, event: StatusEvent) -> None:
        """Queue a (rare) status event even past capacity."""
        if not self._closed:
            self._cells.append(_Cell(event))
            self._count += 1
            self._wake()

    async def push_wait(self, event: StreamEvent) -> None:
        """Queue ``event``, waiting for room first (catch-up paths, never the socket reader)."""
        while not self.push(event):
            await self.wait_below(self.capacity)
            if self._closed:
                return

    async def wait_below(self, level: int) -> None:
        """Return once fewer than ``level`` events wait (or the queue is closed)."""
        while self._count >= level and not self._closed:
            if self._space is None or self._space.done():
                self._space = asyncio.get_running_loop().create_future()
            await self._space

    def get_nowait(self) -> StreamEvent | None:
        cells = self._cells
        while cells:
            cell = cells.popleft()
            event = cell.event
            if event is None:
                continue
            self._count -= 1
            if type(event) is CandleEvent and not event.final:
                key = event.candle.open_time
                if self._provisional.get(key) is cell:
                    del self._provisional[key]
            space = self._space
            if space is not None and not space.done():
                self._space = None
                space.set_result(None)
            return event
        return None

    async def get(self) -> StreamEvent | None:
        """The next event, or None once the queue is closed and drained. Cancelling a waiting
        ``get`` loses nothing: the event stays queued for the next call."""
        while True:
            event = self.get_nowait()
            if event is not None or self._closed:
                return event
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                if self._getter is getter:
                    self._getter = None

    def close(self, *, discard: bool) -> None:
        """No more events; waiting getters wake. ``discard`` drops what is still queued (stop),
        otherwise the consumer drains it first (failure)."""
        self._closed = True
        if discard:
            self._cells.clear()
            self._provisional.clear()
            self._count = 0
        self._wake()
        space = self._space
        if space is not None and not space.done():
            space.set_result(None)
