"""The trades channel's feed: one subscribed ``trade@SYMBOL`` shared by every stream that asked
for it.

The feed decodes each push and hands it to its :class:`~.trades_sync.TradeSync`, tagged with
the connection that carried it (an opaque token to the sync); what comes out, the trades in
exchange-time order each exactly once and the status of any window REST could not cover, goes to
every stream. The connection layer tells the feed when a connection acknowledged the topic
(with the ack's time) and when one is lost; after a loss the sync holds the next connection's
pushes while :class:`~.trades_rest.Recovery` reads the outage from REST, then joins that
connection at an exact seam.

During a rotation both connections deliver the topic. The sync takes the new connection's
pushes as a socket joining and keeps delivering the old one's until the old one has passed the
new one's start; from then on the new one is the authority, the old one's last pushes are
counted as duplicates, and the feed releases the old connection (the layer then closes it). If
the overlap runs out first (a quiet symbol that trades nothing meanwhile), the old connection's
close is an ordinary loss: the few milliseconds between are read from REST.
"""

from __future__ import annotations

import asyncio
from typing import Final

from host_stub.spec import Channel, StatusKind, Trade, TradeEvent
from woox_datasource import wire
from woox_datasource.channels.trades_rest import Recovery
from woox_datasource.channels.trades_stream import TradesStream
from woox_datasource.channels.trades_sync import Event, TradeSync
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.stats import log

_decode_trade: Final = wire.decode_trade


class TradesFeed(Feed[TradesStream]):
    """Exactly-once trades for one ``trade@SYMBOL`` topic of one session."""

    channel = Channel.TRADES

    def __init__(self, host: FeedHost, name: str, symbol: str) -> None:
        super().__init__(host, name, symbol)
        self.sync = TradeSync(symbol)
        self.recovery: Recovery | None = None
        """The REST reads of the current outage, while it lasts."""
        self._handover: Handover | None = None
        self._deferred: list[Trade] | None = None
        """In a rotation begun during an outage: the new connection's pushes, held back."""
        self._deferred_ack: tuple[int | None] | None = None
        """... and its ack's time, once acknowledged."""
        self._started = False
        """The sync has a frontier: streams that backfill know where the feed's output
        begins."""

    # -- from the connection layer ----------------------------------------------------------------

    def on_push(self, push: wire.Push, source: Connection) -> None:
        """Decode one push and deliver what the sync makes of it (the hot path)."""
        try:
            trade = _decode_trade(push)
        except wire.MalformedFrame as exc:
            self.malformed(exc)
            return
        if self._deferred is not None and source is self._handover_new():
            self._deferred.append(trade)
            return
        sync = self.sync
        events = sync.push(trade, source)
        if events:
            self._deliver(events)
        if sync.recovering or self._handover is not None or not self._started:
            self._moved()

    def on_subscribed(self, source: Connection, ack_time: int | None) -> None:
        super().on_subscribed(source, ack_time)
        if self._deferred is not None and source is self._handover_new():
            self._deferred_ack = (ack_time,)
            return
        self._deliver(self.sync.subscribed(source, ack_time))
        self._moved()

    def on_reconnecting(self, reason: str, source: Connection | None) -> None:
        super().on_reconnecting(reason, source)
        if source is not None:
            self._deliver(self.sync.lost(source))
            self._moved()

    def begin_handover(self, handover: Handover) -> None:
        """The new connection joins through the sync; the old one is released once the sync
        has made the new one its authority (see the module docstring). If the old one is not
        the authority (an outage is being read, and the old one is the socket it will join),
        the new one waits: the old one is released at once, and once it is gone the new one
        takes its place in the outage, with what it pushed meanwhile."""
        self.subscribed = False
        self.status(StatusKind.RECONNECTING, reason=handover.reason)
        self._handover = handover
        if self.sync.authority is not handover.old:
            self._deferred = []
            self._deferred_ack = None
            handover.release(self.name)

    def end_handover(self, handover: Handover, completed: bool) -> None:
        if handover is not self._handover:
            return
        self._handover = None
        deferred, self._deferred = self._deferred, None
        ack, self._deferred_ack = self._deferred_ack, None
        sync = self.sync
        if deferred is None:
            self._deliver(sync.lost(handover.old if completed else handover.new))
        elif completed:  # the new connection takes the old one's place in the outage
            self._deliver(sync.lost(handover.old))
            if ack is not None:
                self._deliver(sync.subscribed(handover.new, ack[0]))
            for trade in deferred:
                self._deliver(sync.push(trade, handover.new))
        self._moved()
        super().end_handover(handover, completed)

    def _handover_new(self) -> Connection | None:
        return self._handover.new if self._handover is not None else None

    # -- the sync's outcome -----------------------------------------------------------------------

    def _deliver(self, events: list[Event]) -> None:
        streams = self.streams
        for event in events:
            if isinstance(event, TradeEvent):
                for stream in streams:
                    stream.offer_trade(event)
                continue
            if event.kind is StatusKind.GAP_UNFILLABLE:
                self.host.stats.gaps_unfillable += 1
                log.warning("%s: trades [%s, %s) unfillable: %s", self.name, event.start,
                            event.end, event.reason)  # fmt: skip
            for stream in streams:
                stream.offer_status(event)

    def _moved(self) -> None:
        """After anything that may have changed the sync: start or wake the REST reads, release
        a rotation's old connection, tell backfilling streams where the output begins."""
        sync = self.sync
        if sync.recovering:
            if self.recovery is None:
                self.recovery = Recovery(sync, self.host.rest, self._deliver)
                self.spawn(self._recover(self.recovery), "trades-recovery")
            else:
                self.recovery.poke()
        handover = self._handover
        if handover is not None and sync.authority is handover.new:
            handover.release(self.name)
        if not self._started and sync.frontier is not None:
            self._started = True
            for stream in list(self.streams):
                stream.feed_started(sync.frontier)

    async def _recover(self, recovery: Recovery) -> None:
        try:
            await recovery.run()
        finally:
            self.host.stats.fills += recovery.reads
            if self.recovery is recovery:
                self.recovery = None  # (at once: an outage starting right after needs a new one)

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def frontier(self) -> int | None:
        """Every trade after this millisecond will be delivered by this feed (None before its
        first ack or push)."""
        return self.sync.frontier

    def fail(self, error: Exception) -> None:
        self.recovery = None
        super().fail(error)

    def shutdown(self) -> list[asyncio.Task[None]]:
        self.recovery = None
        return super().shutdown()
