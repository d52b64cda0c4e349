"""The stream manager: streams in, topics shared, connections pooled per session, any channel.

One :class:`StreamManager` per plugin instance. It knows no channel: each stream's config names
one, and the channel's :class:`~woox_datasource.stream.channel.ChannelSpec` (from the registry
the manager was built with, ``woox_datasource.channels.registry``) says which topic serves it and
builds its feed and its stream. Streams started with the same aiohttp session share a
:class:`~woox_datasource.stream.pool.Pool`. All connections of the manager go through one
:class:`~woox_datasource.stream.gate.Gate`, which holds the reconnect discipline and the
connection budget (WOO X counts new connections per IP).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Mapping

import aiohttp

from host_stub.spec import Channel, InvalidRequest, StreamConfig, StreamFailed
from woox_datasource import wire
from woox_datasource.rest import RestClient
from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.gate import Gate
from woox_datasource.stream.live import LiveStream, StreamEnv
from woox_datasource.stream.options import Backoff, ConnectionBudget, StreamOptions
from woox_datasource.stream.pool import Pool
from woox_datasource.stream.stats import LogLimiter, StreamStats


class StreamManager:
    """Starts and stops live streams over WOO X's v3 public WebSocket.

    ``rest_factory`` builds the REST client (gap fills, backfill, fresh values after a
    reconnect) on the session a stream is started with; the manager never creates a session of
    its own. ``channels`` says which channels it serves and how (see
    ``woox_datasource.channels.registry.CHANNELS``)."""

    def __init__(
        self,
        ws_url: str,
        rest_factory: Callable[[aiohttp.ClientSession], RestClient],
        options: StreamOptions = StreamOptions(),  # noqa: B008 - frozen, so sharing is safe
        *,
        channels: Mapping[Channel, ChannelSpec],
    ) -> None:
        self.ws_url = ws_url
        self.rest_factory = rest_factory
        self.options = options
        self.channels = dict(channels)
        self._stats = StreamStats()
        self.limiter = LogLimiter()
        self.rng = random.Random(options.seed)
        self.backoff = Backoff(options, self.rng)
        self.budget = ConnectionBudget(options.max_new_connections, options.connection_window_s)
        self.gate = Gate(self.backoff, self.budget, self._slot_count)
        self._env = StreamEnv(options, self._stats, self.stop)
        self._pools: dict[int, Pool] = {}
        self._streams: dict[str, LiveStream] = {}
        self._pool_of: dict[str, Pool] = {}
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def counters(self) -> StreamStats:
        """The counters as they stand (frames still being counted by the readers excluded)."""
        return self._stats

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

    def _spec(self, config: StreamConfig, symbol: str) -> ChannelSpec:
        """The channel serving ``config``, if it exists for ``symbol``'s market kind."""
        spec = self.channels.get(config.channel)
        if spec is None:
            raise InvalidRequest(
                f"the {config.channel} channel is not served; served: "
                f"{', '.join(self.channels) or 'none'}"
            )
        info = wire.CHANNEL_INFOS[config.channel]
        parts = wire.market_parts(symbol)
        if parts is not None and parts[0] not in info.kinds:
            raise InvalidRequest(
                f"the {config.channel} channel exists for {' and '.join(info.kinds)} markets "
                f"only, not for {parts[0]} {symbol!r}"
            )
        return spec

    async def start(self, session: aiohttp.ClientSession, config: StreamConfig) -> LiveStream:
        """Start a stream. Raises InvalidRequest (bad symbol, a channel not served or not
        existing for the symbol's market kind, an interval without live data) or StreamFailed
        (manager closed, session closed); an unknown symbol fails the stream with UnknownSymbol
        while iterating."""
        symbol = wire.normalize_symbol(config.symbol)
        spec = self._spec(config, symbol)
        topic = spec.topic(symbol, config)
        if self._closed:
            raise StreamFailed("the stream manager is closed")
        if session.closed:
            raise StreamFailed("the aiohttp session is closed; pass an open one")
        pool = self._pools.get(id(session))
        if pool is None or pool.session is not session:
            pool = self._pools[id(session)] = Pool(self, session, self.rest_factory(session))
        stream_id = f"woox-{spec.label(symbol, config)}-{next(self._ids)}"
        stream = spec.new_stream(stream_id, symbol, config, self._env)
        self._streams[stream_id] = stream
        self._pool_of[stream_id] = pool
        pool.attach(stream, topic, lambda: spec.new_feed(pool, topic, config))
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
        pool = self._pool_of.pop(stream_id, None)
        if pool is not None:
            ending.extend(pool.detach(stream))
        await _settle(ending)

    def forget(self, stream: LiveStream) -> None:
        """A stream failed for good: it no longer counts as running."""
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
            self._pool_of.pop(stream.id, None)

    def drop_pool(self, pool: Pool) -> None:
        for key, value in list(self._pools.items()):
            if value is pool:
                del self._pools[key]

    async def aclose(self) -> None:
        """Stop every stream and close every connection. Idempotent."""
        self._closed = True
        streams = list(self._streams.values())
        self._streams.clear()
        self._pool_of.clear()
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
