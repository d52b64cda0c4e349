"""The book channel's feeds: one subscribed book topic of a session, shared by its streams.

:class:`BookFeed` (``orderbookupdate[rpi]@SYM@DEPTH``) runs the topic's :class:`BookSync` and
performs the REST reads it asks for, one at a time, inside the session's shared budget: seeds
rank after every candle gap fill (:data:`SEED_PRIORITY`), audits after seeds. A seed still
waiting after :data:`SEED_PATIENCE_S` (many books re-seeding at 10 requests per second after a
reconnect) makes the book ``stale`` with the queue's length, so the consumer is never left
believing an unsynced book current. A resubscription (reconnect, rotation) asks for an audit;
a book that has had no delta at all since subscribing (spot books may get none at WOO X:
UNCERTAIN) is audited every :data:`QUIET_AUDITS_S` so that it follows REST, and says so.

During a rotation both connections deliver the topic. A delta from the new connection that does
not link to the book yet (the old connection still has the deltas before it in flight) is held
until the old connection has caught up, so a rotation costs no resync; then the old connection
is released. :class:`TopBookFeed` (``orderbook10@SYM``) is simpler: every push replaces the
book, and an older push than the last one delivered (the other connection of a rotation) is
ignored.
"""

from __future__ import annotations

import asyncio
from typing import Final

from host_stub.spec import BookEvent, Channel, DatasourceError, StatusKind, StreamEvent
from woox_datasource import wire
from woox_datasource.channels.book_stream import BookStream
from woox_datasource.channels.book_sync import BookSync, BookSyncOptions, FetchSnapshot
from woox_datasource.rest.budget import Priority, set_priority
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.handover import Handover

SEED_PRIORITY: Final[Priority] = (1.0,)
"""Seeds and resyncs of books: after candle gap fills (``(0, ...)``), before audits."""
AUDIT_PRIORITY: Final[Priority] = (2.0,)
SEED_PATIENCE_S: Final = 1.0
"""A seed not answered by then (it waits for the REST budget) makes the book ``stale``."""
QUIET_AUDITS_S: Final = (30.0, 60.0, 120.0, 300.0, 600.0)
"""Audits of a synced book that has had no delta since subscribing (then every 10 min)."""
HELD_LIMIT: Final = 256
"""New-connection deltas held during a rotation; past it the rotation moves on regardless."""

_decode_update: Final = wire.decode_book_update
_decode_top10: Final = wire.decode_book_top10


class BookFeed(Feed[BookStream]):
    """The exact book of one ``orderbookupdate`` topic (see the module docstring)."""

    channel = Channel.BOOK

    def __init__(self, host: FeedHost, name: str, symbol: str, depth: int, rpi: bool,
                 options: BookSyncOptions) -> None:  # fmt: skip
        super().__init__(host, name, symbol)
        self.depth = depth
        self.rpi = rpi
        self.sync = BookSync(symbol, depth, rpi=rpi, options=options)
        self._reading = False
        self._quiet: asyncio.TimerHandle | None = None
        self._quiet_round = 0
        self._handover: Handover | None = None
        self._held: list[wire.BookUpdate] | None = None
        """In a rotation: the new connection's deltas waiting for the old one to catch up."""
        self._moved = False

    # -- pushes -------------------------------------------------------------------------------

    def on_push(self, push: wire.Push, source: Connection) -> None:
        try:
            update = _decode_update(push)
        except wire.MalformedFrame as exc:
            self.malformed(exc)
            return
        if self._handover is None:
            self._apply(update)
        else:
            self._rotating(update, source, self._handover)

    def _apply(self, update: wire.BookUpdate) -> None:
        sync = self.sync
        events = sync.on_delta(update)
        if events:
            self._deliver(events)
        fetch = sync.take_fetch()
        if fetch is not None:
            self._read(fetch)

    def _deliver(self, events: list[StreamEvent]) -> None:
        for event in events:
            if type(event) is BookEvent:
                for stream in self.streams:
                    stream.offer_book(event)
            else:
                for stream in self.streams:
                    stream.offer_status(event)  # type: ignore[arg-type]

    # -- REST ---------------------------------------------------------------------------------

    def on_subscribed(self, source: Connection, ack_time: int | None) -> None:
        super().on_subscribed(source, ack_time)
        self.sync.on_subscribed()
        fetch = self.sync.take_fetch()
        if fetch is not None:
            self._read(fetch)

    def _read(self, fetch: FetchSnapshot) -> None:
        assert not self._reading  # (the sync asks for one read at a time)
        self._reading = True
        self.spawn(self._reads(fetch), "book-read")

    async def _reads(self, fetch: FetchSnapshot | None) -> None:
        """Perform the sync's reads until it asks for none (each answer may ask for another)."""
        sync = self.sync
        try:
            while fetch is not None:
                set_priority(AUDIT_PRIORITY if fetch.audit else SEED_PRIORITY)
                if fetch.delay:
                    await asyncio.sleep(fetch.delay)
                patience = None
                if not fetch.audit:
                    loop = asyncio.get_running_loop()
                    patience = loop.call_later(SEED_PATIENCE_S, self._seed_waits)
                try:
                    events = sync.on_snapshot(await self._snapshot())
                except DatasourceError as exc:
                    self.host.limiter.warning("book-read", "%s: REST book: %s", self.name, exc)
                    events = sync.on_snapshot_failed(str(exc))
                finally:
                    if patience is not None:
                        patience.cancel()
                self._deliver(events)
                fetch = sync.take_fetch()
        finally:
            self._reading = False
        self._watch_quiet()

    async def _snapshot(self) -> BookEvent:
        query = wire.orderbook_query(self.symbol, self.depth, rpi=self.rpi)
        reply = await self.host.rest.get_reply(wire.ORDERBOOK_PATH, query)
        return wire.parse_orderbook(reply, self.symbol, self.depth)

    def _seed_waits(self) -> None:
        if self.sync.synced:
            return
        ahead = self.host.rest.budget.queued_ahead(SEED_PRIORITY)
        self._deliver(self.sync.report_stale(
            f"waiting {SEED_PATIENCE_S:g} s for the REST book ({ahead} request(s) queued ahead "
            "in the 10 requests/s budget)"
        ))  # fmt: skip

    def _watch_quiet(self) -> None:
        """Audit a synced book that has had no delta yet, on a widening schedule."""
        if self._quiet is not None or self.closed or self.sync.received or not self.sync.synced:
            return
        delay = QUIET_AUDITS_S[min(self._quiet_round, len(QUIET_AUDITS_S) - 1)]
        self._quiet_round += 1
        self._quiet = asyncio.get_running_loop().call_later(delay, self._quiet_audit)

    def _quiet_audit(self) -> None:
        self._quiet = None
        if self.closed or self.sync.received:
            return
        self.sync.request_audit("no delta since subscribing: checking the book against REST")
        fetch = self.sync.take_fetch()
        if fetch is not None:
            self._read(fetch)
        else:
            self._watch_quiet()

    # -- rotation -----------------------------------------------------------------------------

    def begin_handover(self, handover: Handover) -> None:
        self.subscribed = False
        self.status(StatusKind.RECONNECTING, reason=handover.reason)
        self._handover = handover
        self._held = []
        self._moved = False

    def _rotating(self, update: wire.BookUpdate, source: Connection, handover: Handover) -> None:
        if self._moved:
            if source is not handover.old:
                self._apply(update)
            return
        if source is handover.old:
            self._apply(update)
            if self._held and self._caught_up(self._held[0]):
                self._move(handover)
            return
        held = self._held
        assert held is not None
        if not held and self._caught_up(update):
            self._apply(update)
            self._move(handover)
        else:
            held.append(update)
            if len(held) > HELD_LIMIT:
                self._move(handover)

    def _caught_up(self, update: wire.BookUpdate) -> bool:
        """The book has reached the point where ``update`` starts (or has no chain yet)."""
        last = self.sync.last_ts
        return last is None or update.prev_ts <= last

    def _move(self, handover: Handover) -> None:
        """From now on only the new connection feeds the book."""
        self._moved = True
        held, self._held = self._held or [], None
        handover.release(self.name)
        for update in held:
            self._apply(update)

    def end_handover(self, handover: Handover, completed: bool) -> None:
        if handover is not self._handover:
            return
        if completed and not self._moved:
            self._move(handover)
        self._handover = None
        self._held = None
        self._moved = False
        if not completed:
            super().end_handover(handover, completed)

    # -- lifecycle ----------------------------------------------------------------------------

    def _stop_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None

    def fail(self, error: Exception) -> None:
        self._stop_quiet()
        super().fail(error)

    def shutdown(self) -> list[asyncio.Task[None]]:
        self._stop_quiet()
        return super().shutdown()


class TopBookFeed(Feed[BookStream]):
    """``orderbook10@SYM``: every push is the whole top-10 book (see the module docstring)."""

    channel = Channel.BOOK

    def __init__(self, host: FeedHost, name: str, symbol: str) -> None:
        super().__init__(host, name, symbol)
        self.last_time = -1

    def on_push(self, push: wire.Push, source: Connection) -> None:
        try:
            event = _decode_top10(push)
        except wire.MalformedFrame as exc:
            self.malformed(exc)
            return
        if event.time <= self.last_time:
            self.host.stats.duplicates += 1
            return
        self.last_time = event.time
        for stream in self.streams:
            stream.offer_book(event)
