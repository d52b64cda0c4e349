"""The per-stream event queue: bounded, with conflation by key for the channels that want it.

One queue serves every channel; each channel's stream decides per event how it goes in:

* :meth:`EventQueue.conflate`: the event replaces (or, with ``merge``, is merged into) the one
  still waiting under the same key, in place, keeping its position; a consumer that falls
  behind sees the newest state, not a backlog of superseded ones (a candle's provisional
  updates keyed by open time, a latest value keyed by its symbol, a book's deltas merged).
  At most one event per key waits, so this never grows the queue beyond its keys.
* :meth:`EventQueue.withdraw`: a waiting conflated event is no longer wanted (a candle's final
  supersedes its provisional).
* :meth:`EventQueue.push`: every event counts against the capacity and is never dropped here:
  a full queue refuses it and the stream decides (candles re-read finals from history later;
  trades count what they drop and report it); :meth:`EventQueue.push_force` for the rare event
  that must go in anyway (a gap report).

Memory is bounded by the capacity plus one event per key, however long the consumer stalls.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

Merge = Callable[[Any, Any], Any]
"""``merge(waiting, new)``: the one event that stands for both (in the waiting one's place)."""


class _Cell:
    """A queue slot; ``event`` is None once withdrawn."""

    __slots__ = ("event", "key")

    def __init__(self, event: object, key: Hashable | None) -> None:
        self.event = event
        self.key = key


class EventQueue:
    """Single-consumer queue of events for one stream (see the module docstring)."""

    __slots__ = ("_cells", "_closed", "_count", "_getter", "_keyed", "_space", "capacity",
                 "conflated")  # fmt: skip

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.conflated = 0
        """Events replaced or merged before the consumer took them."""
        self._cells: deque[_Cell] = deque()
        self._keyed: dict[Hashable, _Cell] = {}
        self._count = 0
        self._getter: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        """Events waiting (withdrawn ones not counted)."""
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

    def conflate(self, key: Hashable, event: object, merge: Merge | None = None) -> bool:
        """Queue ``event`` under ``key``; if one of that key still waits, replace it in place
        (or ``merge(waiting, event)``) and return True."""
        if self._closed:
            return False
        cell = self._keyed.get(key)
        if cell is not None:
            cell.event = event if merge is None else merge(cell.event, event)
            self.conflated += 1
            return True
        cell = _Cell(event, key)
        self._keyed[key] = cell
        self._cells.append(cell)
        self._count += 1
        self._wake()
        return False

    def withdraw(self, key: Hashable) -> None:
        """Drop the event waiting under ``key``, if any."""
        cell = self._keyed.pop(key, None)
        if cell is not None:
            cell.event = None
            self._count -= 1

    def push(self, event: object) -> bool:
        """Queue ``event``; False (nothing queued) if the queue is full."""
        if self._closed:
            return True  # nobody will read it; not a reason to do anything about it
        if self._count >= self.capacity:
            return False
        self._cells.append(_Cell(event, None))
        self._count += 1
        self._wake()
        return True

    def push_force(self, event: object) -> None:
        """Queue a (rare) event even past capacity."""
        if not self._closed:
            self._cells.append(_Cell(event, None))
            self._count += 1
            self._wake()

    async def push_wait(self, event: object) -> None:
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

    def get_nowait(self) -> Any:
        """The next event, or None if none waits."""
        cells = self._cells
        while cells:
            cell = cells.popleft()
            event = cell.event
            if event is None:
                continue
            self._count -= 1
            key = cell.key
            if key is not None and self._keyed.get(key) is cell:
                del self._keyed[key]
            space = self._space
            if space is not None and not space.done():
                self._space = None
                space.set_result(None)
            return event
        return None

    async def get(self) -> Any:
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
            self._keyed.clear()
            self._count = 0
        self._wake()
        space = self._space
        if space is not None and not space.done():
            space.set_result(None)
