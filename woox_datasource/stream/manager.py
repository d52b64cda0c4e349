"""The stream manager: streams in, topics shared, connections pooled per session.

One :class:`StreamManager` per plugin instance. Streams started with the same aiohttp session
share its pool: one :class:`Topic` per (symbol, interval) whoever asked for it, and as few
connections as WOO X's 100-topics-per-connection limit allows. All connections of the manager
go through one :class:`~woox_datasource.stream.gate.Gate`, which holds the reconnect discipline
and the connection budget (WOO X counts new connections per IP).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable

import aiohttp

from host_stub.spec import StreamConfig, StreamFailed
from woox_datasource import wire
from woox_datasource.rest import RestClient
from woox_datasource.stream.gate import Gate
from woox_datasource.stream.history import HistorySource
from woox_datasource.stream.live import LiveStream
from woox_datasource.stream.options import Backoff, ConnectionBudget, StreamOptions
from woox_datasource.stream.slot import Slot
from woox_datasource.stream.stats import LogLimiter, StreamStats
from woox_datasource.stream.topic import Topic
from woox_datasource.timeframes import for_live


class _Pool:
    """Topics and connections of one aiohttp session (implements SlotHost and TopicHost)."""

    def __init__(self, manager: StreamManager, session: aiohttp.ClientSession) -> None:
        self.manager = manager
        self.session = session
        self.ws_url = manager.ws_url
        self.options = manager.options
        self.stats = manager._stats
        self.limiter = manager.limiter
        self.gate = manager.gate
        self.history = HistorySource(manager.rest_factory(session), manager.options, manager.rng)
        self.topics: dict[str, Topic] = {}
        self.slots: list[Slot] = []

    def dispatch(self, push: wire.KlinePush) -> None:
        topic = self.topics.get(push.topic)
        if topic is None:
            self.stats.unknown_topic += 1
            self.limiter.warning("topic", "push for a topic no stream wants: %s", push.topic)
            return
        topic.on_push(push)

    def attach(self, stream: LiveStream) -> Topic:
        name = wire.kline_topic(stream.symbol, stream.timeframe.ws_type or "")
        topic = self.topics.get(name)
        if topic is None:
            topic = self.topics[name] = Topic(self, name, stream.symbol, stream.timeframe)
            self._assign(topic)
        topic.streams.append(stream)
        stream.topic = topic
        status = topic.status_for_new_stream()
        if status is not None:
            stream.offer_status(status)
        return topic

    def _assign(self, topic: Topic) -> None:
        slot = next((s for s in self.slots if s.has_room()), None)
        if slot is None:
            slot = Slot(self)
            self.slots.append(slot)
        slot.add(topic)

    def detach(self, stream: LiveStream) -> list[asyncio.Task[None]]:
        """Remove ``stream`` from its topic; the last one out drops the topic (its fill is
        cancelled, its slot unsubscribes it, or shuts down if it was the slot's last). Returns
        the cancelled tasks, to be awaited."""
        topic = stream.topic
        if topic is None or stream not in topic.streams:
            return []
        topic.streams.remove(stream)
        if topic.streams:
            return []
        self.forget(topic)
        ending = topic.shutdown()
        slot = topic.slot
        if slot is not None:
            ending.extend(t for t in [slot.remove(topic)] if t is not None)
        return ending

    def forget(self, topic: Topic) -> None:
        if self.topics.get(topic.name) is topic:
            del self.topics[topic.name]
        for stream in list(topic.streams):
            self.manager.forget(stream)
        if not self.topics and not self.slots:
            self.manager.drop_pool(self)

    def slot_done(self, slot: Slot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
        for topic in list(slot.topics.values()):  # only if the slot died unexpectedly
            if not topic.closed:
                self._assign(topic)
        if not self.topics and not self.slots:
            self.manager.drop_pool(self)

    def shutdown(self) -> list[asyncio.Task[None]]:
        """Cancel every fill and every slot now; returns their tasks, to be awaited."""
        topics = list(self.topics.values())
        self.topics.clear()
        ending = [task for topic in topics for task in topic.shutdown()]
        slots, self.slots = self.slots, []
        ending.extend(slot.shutdown() for slot in slots)
        return ending


class StreamManager:
    """Starts and stops live candle streams over WOO X's v3 public WebSocket.

    ``rest_factory`` builds the REST client (for gap fills and backfill) on the session a stream
    is started with; the manager never creates a session of its own."""

    def __init__(
        self,
        ws_url: str,
        rest_factory: Callable[[aiohttp.ClientSession], RestClient],
        options: StreamOptions = StreamOptions(),  # noqa: B008 - frozen, so sharing is safe
    ) -> None:
        self.ws_url = ws_url
        self.rest_factory = rest_factory
        self.options = options
        self._stats = StreamStats()
        self.limiter = LogLimiter()
        self.rng = random.Random(options.seed)
        self.backoff = Backoff(options, self.rng)
        self.budget = ConnectionBudget(options.max_new_connections, options.connection_window_s)
        self.gate = Gate(self.backoff, self.budget, self._slot_count)
        self._pools: dict[int, _Pool] = {}
        self._streams: dict[str, LiveStream] = {}
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def stats(self) -> StreamStats:
        """Counters of frames, faults, fills and more (live: read it any time)."""
        for pool in self._pools.values():
            for slot in pool.slots:
                slot.count_frames()
        return self._stats

    @property
    def streams(self) -> dict[str, LiveStream]:
        """Streams running now, by id (a copy)."""
        return dict(self._streams)

    def _slot_count(self) -> int:
        return sum(len(pool.slots) for pool in self._pools.values())

    @property
    def connections(self) -> int:
        """Open WebSocket connections across all sessions."""
        return sum(
            1 for pool in self._pools.values() for s in pool.slots if s.conn and not s.conn.ended
        )

    async def start(self, session: aiohttp.ClientSession, config: StreamConfig) -> LiveStream:
        """Start a stream. Raises InvalidRequest (bad symbol, interval without live data) or
        StreamFailed (manager closed, session closed); an unknown symbol fails the stream with
        UnknownSymbol while iterating."""
        tf = for_live(config.interval)
        symbol = wire.normalize_symbol(config.symbol)
        if self._closed:
            raise StreamFailed("the stream manager is closed")
        if session.closed:
            raise StreamFailed("the aiohttp session is closed; pass an open one")
        pool = self._pools.get(id(session))
        if pool is None or pool.session is not session:
            pool = self._pools[id(session)] = _Pool(self, session)
        stream_id = f"woox-{symbol}-{tf.label}-{next(self._ids)}"
        stream = LiveStream(
            stream_id,
            symbol=symbol,
            tf=tf,
            config=config,
            options=self.options,
            stats=self._stats,
            stop=self.stop,
        )
        if config.backfill_from is not None:
            stream.start_catch_up(config.backfill_from, backfill=True)
        self._streams[stream_id] = stream
        pool.attach(stream)
        return stream

    async def stop(self, stream_id: str) -> None:
        """Stop a stream, whatever state it is in: its iteration ends at once, and so does every
        task that served only it (catch-up, gap fill, its connection's task if that was the last
        topic there, whose sockets are dropped after sending a close frame). A topic leaving a
        connection that others still use is unsubscribed in the background, nobody waiting for
        the ack. Everything is cancelled before anything is awaited, so a second cancellation of
        the caller (a second Ctrl-C) cannot leave a task running. Idempotent."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        ending = stream.shutdown()
        topic = stream.topic
        pool = topic.host if topic is not None else None
        if isinstance(pool, _Pool):
            ending.extend(pool.detach(stream))
        await _settle(ending)

    def forget(self, stream: LiveStream) -> None:
        """A stream failed for good: it no longer counts as running."""
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]

    def drop_pool(self, pool: _Pool) -> None:
        for key, value in list(self._pools.items()):
            if value is pool:
                del self._pools[key]

    async def aclose(self) -> None:
        """Stop every stream and close every connection. Idempotent."""
        self._closed = True
        streams = list(self._streams.values())
        self._streams.clear()
        ending = [task for stream in streams for task in stream.shutdown()]
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            ending.extend(pool.shutdown())
        await _settle(ending)


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for cancelled tasks to end; their cancellation is theirs, not the caller's."""
    if tasks:
        await asyncio.wait(tasks)
