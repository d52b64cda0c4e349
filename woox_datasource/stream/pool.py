"""The feeds and connections of one aiohttp session.

Streams started with the same session share its pool: one feed per topic whoever asked for it
(and whatever channel it belongs to), and as few connections as WOO X's 100-topics-per-connection
limit allows. The pool is the feeds' :class:`~woox_datasource.stream.feed.FeedHost` (the
session's REST client, shared helpers) and the slots' host (routes, the gate).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import aiohttp

from woox_datasource.rest import RestClient
from woox_datasource.stream.feed import Feed
from woox_datasource.stream.gate import Gate
from woox_datasource.stream.live import LiveStream
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.slot import Slot
from woox_datasource.stream.stats import LogLimiter, StreamStats

T = TypeVar("T")


class PoolOwner(Protocol):
    """What a pool shares with every other pool of its manager, and tells it."""

    ws_url: str
    options: StreamOptions
    limiter: LogLimiter
    gate: Gate
    rng: random.Random

    @property
    def counters(self) -> StreamStats: ...

    def forget(self, stream: LiveStream) -> None: ...

    def drop_pool(self, pool: Pool) -> None: ...


class Pool:
    """Feeds and slots of one session (a FeedHost and a SlotHost)."""

    def __init__(
        self,
        manager: PoolOwner,
        session: aiohttp.ClientSession,
        rest: RestClient,
    ) -> None:
        self.manager = manager
        self.session = session
        self.ws_url: str = manager.ws_url
        self.options: StreamOptions = manager.options
        self.stats: StreamStats = manager.counters
        self.limiter: LogLimiter = manager.limiter
        self.gate: Gate = manager.gate
        self.rng: random.Random = manager.rng
        self.rest = rest
        self.feeds: dict[str, Feed[Any]] = {}
        self.slots: list[Slot] = []
        self._services: dict[str, object] = {}
        self._feed_of: dict[LiveStream, Feed[Any]] = {}

    def service(self, key: str, make: Callable[[], T]) -> T:
        found = self._services.get(key)
        if found is None:
            found = self._services[key] = make()
        return found  # type: ignore[return-value]

    def attach(self, stream: LiveStream, topic: str, make: Callable[[], Feed[Any]]) -> None:
        """Let ``stream`` hear ``topic``, subscribing it (``make`` builds its feed) unless the
        session carries it already."""
        feed = self.feeds.get(topic)
        if feed is None:
            feed = self.feeds[topic] = make()
            self._assign(feed)
        self._feed_of[stream] = feed
        stream.attached(feed)
        feed.attach(stream)

    def _assign(self, feed: Feed[Any]) -> None:
        slot = next((s for s in self.slots if s.has_room()), None)
        if slot is None:
            slot = Slot(self)
            self.slots.append(slot)
        slot.add(feed)

    def detach(self, stream: LiveStream) -> list[asyncio.Task[None]]:
        """Remove ``stream`` from its feed; the last one out drops the feed (its tasks are
        cancelled, its slot unsubscribes it, or shuts down if it was the slot's last). Returns
        the cancelled tasks, to be awaited."""
        feed = self._feed_of.pop(stream, None)
        if feed is None or not feed.detach(stream):
            return []
        self.forget(feed)
        ending = feed.shutdown()
        slot = feed.slot
        feed.slot = None
        if slot is not None:
            ending.extend(t for t in [slot.remove(feed)] if t is not None)
        return ending

    def forget(self, feed: Feed[Any]) -> None:
        """``feed`` is gone (failed, or its last stream left)."""
        if self.feeds.get(feed.name) is feed:
            del self.feeds[feed.name]
        for stream in list(feed.streams):
            self._feed_of.pop(stream, None)
            self.manager.forget(stream)
        if not self.feeds and not self.slots:
            self.manager.drop_pool(self)

    def slot_done(self, slot: Slot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
        for feed in list(slot.topics.values()):  # only if the slot died unexpectedly
            if not feed.closed:
                self._assign(feed)
        if not self.feeds and not self.slots:
            self.manager.drop_pool(self)

    def shutdown(self) -> list[asyncio.Task[None]]:
        """Cancel every feed's work and every slot now; returns their tasks, to be awaited."""
        feeds = list(self.feeds.values())
        self.feeds.clear()
        self._feed_of.clear()
        ending = [task for feed in feeds for task in feed.shutdown()]
        slots, self.slots = self.slots, []
        ending.extend(slot.shutdown() for slot in slots)
        return ending
