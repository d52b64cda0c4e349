"""The consumer's side of a book stream: book events merged for a slow consumer, statuses in order.

The stream's queue holds status events as they come and, for the book, one place: while the
consumer has not taken it, every further book event is merged into it (:class:`BookMerge`), so
memory stays bounded and no change is lost however far the consumer falls behind. A snapshot
(after ``resynced``, or every event of the top-10 book) moves that place to the end, behind
the statuses that came before it: ``resynced`` is always followed by its snapshot, never by an
older merged delta. A merged delta stays where the first of its deltas waited.
"""

from __future__ import annotations

from typing import Final, cast

from host_stub.spec import BookEvent, StreamConfig, StreamEvent
from woox_datasource.channels.book_merge import BookMerge
from woox_datasource.stream.live import LiveStream, StreamEnv


class _BookPlace:
    """The queue's place holder for the (merged) book event, resolved when it is taken."""

    __slots__ = ()


_BOOK: Final = _BookPlace()


class BookStream(LiveStream):
    """A live book stream (see the module docstring)."""

    def __init__(self, stream_id: str, *, symbol: str, config: StreamConfig,
                 env: StreamEnv) -> None:  # fmt: skip
        super().__init__(stream_id, symbol=symbol, config=config, env=env)
        self._merge = BookMerge()

    def offer_book(self, event: BookEvent) -> None:
        """The feed's next book event (never blocking)."""
        if self.ended:
            return
        queue = self._queue
        if event.snapshot:
            queue.withdraw(_BOOK)
        self._merge.push(event)
        if queue.conflate(_BOOK, _BOOK):
            self._stats.conflated += 1

    @property
    def merged(self) -> int:
        """Book events this stream folded into others (the consumer was behind)."""
        return self._merge.merged

    async def __anext__(self) -> StreamEvent:
        event = await super().__anext__()
        if event is cast(object, _BOOK):
            book = self._merge.take()
            assert book is not None
            return book
        return event
