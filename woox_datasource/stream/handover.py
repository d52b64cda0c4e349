"""Make-before-break: moving a slot's topics from an old connection to its replacement.

During a rotation both connections carry the same topics for a moment, each in its own order.
Feeding both to the topics blindly would let the new connection's first push of candle N+1
arrive before the old one's closing push of candle N, which looks like a missed closing push
(and costs a REST read). So the new connection's pushes of a topic are held back until the old
connection has caught up with them (it delivered a push for the first candle held, or later);
then the held pushes are replayed, the topic listens to the new connection only, and once every
topic is handed over the old connection can close without a candle lost or doubled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from woox_datasource import wire
from woox_datasource.stream.candles import DUPLICATE, STALE
from woox_datasource.stream.stats import StreamStats
from woox_datasource.stream.topic import hold_push, seen_upto

if TYPE_CHECKING:
    from woox_datasource.stream.topic import Topic


class Handover:
    """Routes pushes of an old and a new connection while topics move from one to the other."""

    def __init__(
        self,
        names: Iterable[str],
        topics: Mapping[str, Topic],
        dispatch: Callable[[wire.KlinePush], None],
        stats: StreamStats,
    ) -> None:
        self._waiting = set(names)
        self._moving = frozenset(self._waiting)
        self._topics = topics
        self._dispatch = dispatch
        self._stats = stats
        self._held: dict[str, list[wire.KlinePush]] = {}
        self.done = asyncio.Event()
        if not self._waiting:
            self.done.set()

    def drop(self, names: Iterable[str]) -> None:
        """These topics will not move (the new connection refused them)."""
        for name in names:
            self._waiting.discard(name)
            self._held.pop(name, None)
        if not self._waiting:
            self.done.set()

    def from_old(self, push: wire.KlinePush) -> None:
        name = push.topic
        if name in self._waiting or name not in self._moving:
            self._dispatch(push)
            if name in self._held:
                self._check(name)
        else:
            self._stats.duplicates += 1  # the new connection carries this topic now

    def from_new(self, push: wire.KlinePush) -> None:
        name = push.topic
        if name not in self._waiting:
            self._dispatch(push)
            return
        held = self._held.get(name)
        if held is None:
            self._held[name] = [push]
        else:
            outcome = hold_push(held, push)
            if outcome == DUPLICATE:
                self._stats.duplicates += 1
            elif outcome == STALE:
                self._stats.stale += 1
        self._check(name)

    def _check(self, name: str) -> None:
        first = self._held[name][0].candle.open_time
        topic = self._topics.get(name)
        fed = seen_upto(topic) if topic is not None else first
        if fed is not None and fed >= first:
            self._move(name)

    def _move(self, name: str) -> None:
        self._waiting.discard(name)
        for push in self._held.pop(name, ()):
            self._dispatch(push)
        if not self._waiting:
            self.done.set()

    def finish(self) -> None:
        """Hand over whatever is left (the overlap ran out, or the old connection is gone)."""
        for name in list(self._waiting):
            self._move(name)
