"""Watching a live book stream against the simulator's truth (for the book's loopback tests and
benchmark): after every ``BookEvent`` the consumer's ``OrderBook`` must equal the simulator's
top-``depth`` book as of the event's ``time``, number by number; ``resynced`` must be followed by
a snapshot, after the book's own ``stale`` no book event may come before a resync, and no snapshot
carries more levels than the stream's depth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from host_stub.spec import BookEvent, Level, OrderBook, StatusEvent, StatusKind, StreamEvent
from woox_datasource.simulator import WooXSimulator
from woox_datasource.stream import LiveStream


def exact(levels: tuple[tuple[str, str], ...]) -> tuple[Level, ...]:
    return tuple((Decimal(p), Decimal(s)) for p, s in levels)


class BookWatch:
    """Consumes ``stream`` in a task and checks every event (see the module docstring)."""

    def __init__(self, sim: WooXSimulator, stream: LiveStream, symbol: str, depth: int,
                 rpi: bool = False, *, compare: bool = True) -> None:  # fmt: skip
        self.sim = sim
        self.stream = stream
        self.symbol = symbol
        self.depth = depth
        self.rpi = rpi
        self.compare = compare
        self.book = OrderBook()
        self.events: list[StreamEvent] = []
        self.problems: list[str] = []
        self.compared = 0
        self._changed = asyncio.Event()
        self._book_stale = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        previous: StreamEvent | None = None
        async for event in self.stream:
            self.events.append(event)
            if isinstance(event, BookEvent):
                self._check(event, previous)
            elif isinstance(event, StatusEvent) and event.kind is StatusKind.STALE:
                self._book_stale = True
            elif isinstance(event, StatusEvent) and event.kind is StatusKind.CONNECTED:
                self._book_stale = False  # (a connection's stale ends here; a book's does not
                # end before its resync, which the machine announces either way)
            previous = event
            self._changed.set()

    def _check(self, event: BookEvent, previous: StreamEvent | None) -> None:
        resynced = isinstance(previous, StatusEvent) and previous.kind is StatusKind.RESYNCED
        if self.book.time is None and not event.snapshot:
            self.problems.append(f"first book event at {event.time} is no snapshot")
        if self.book.time is not None and event.time < self.book.time:
            self.problems.append(f"book went back from {self.book.time} to {event.time}")
        if self._book_stale and not resynced and self.book.time is not None:
            self.problems.append(f"a stale book resumed at {event.time} without a resync")
        if resynced and not event.snapshot:
            self.problems.append("resynced not followed by a snapshot")
        deep = event.snapshot and max(len(event.bids), len(event.asks)) > self.depth
        if event.depth != self.depth or deep:
            kind = "snapshot" if event.snapshot else "delta"
            self.problems.append(f"a depth-{event.depth} {kind} at {event.time} with "
                                 f"{len(event.bids)}/{len(event.asks)} levels on the "
                                 f"depth-{self.depth} stream")  # fmt: skip
        self._book_stale = False
        self.book.apply(event)
        if not self.compare:
            return
        truth = self.sim.book(self.symbol, self.depth, self.rpi, event.time)
        self.compared += 1
        if self.book.bids != exact(truth.bids) or self.book.asks != exact(truth.asks):
            self.problems.append(f"book at {event.time} differs from the simulator's")

    # -- reading what came ----------------------------------------------------------------------

    def books(self) -> list[BookEvent]:
        return [e for e in self.events if isinstance(e, BookEvent)]

    def statuses(self, kind: StatusKind) -> list[StatusEvent]:
        return [e for e in self.events if isinstance(e, StatusEvent) and e.kind is kind]

    async def until(self, condition: Callable[[BookWatch], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Wait (bounded) until ``condition(self)`` holds; TimeoutError says what came."""
        try:
            async with asyncio.timeout(timeout):
                while not condition(self):
                    if self.task.done():
                        self.task.result()
                        raise AssertionError(f"the stream ended: {self.summary()}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"not met in {timeout} s: {self.summary()}") from None

    def summary(self) -> str:
        kinds = [
            ("S" if e.snapshot else "d") if isinstance(e, BookEvent) else e.kind.value
            for e in self.events
            if isinstance(e, BookEvent | StatusEvent)
        ]
        return f"{len(kinds)} events: {' '.join(kinds[-30:])}; problems {self.problems[:3]}"

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def deltas_after(n: int, since: int = 0) -> Callable[[BookWatch], bool]:
    """At least ``n`` delta events among the events from index ``since`` on."""
    return lambda w: sum(1 for e in w.events[since:] if isinstance(e, BookEvent)
                         and not e.snapshot) >= n  # fmt: skip
