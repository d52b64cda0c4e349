"""A feed: one subscribed topic of one session, shared by every stream that asked for it.

This is where the connection layer ends and a channel begins. The layer keeps the topic
subscribed (batched SUBSCRIBEs, checked acks, reconnects through the gate, rotation) and hands
the feed everything that happens to it, each push tagged with the connection that carried it;
the feed decodes the payload with its channel's decoder, runs the channel's state machine,
reads REST when that machine needs it (through the session's shared, priority-aware budget)
and offers the outcome to its streams. A channel subclasses :class:`Feed` and overrides what it
needs; the defaults suit a channel that only has to say how the connection is doing.

What the layer calls, and when:

* :meth:`Feed.on_push` for every push of the topic, with its source (a
  :class:`~woox_datasource.stream.connection.Connection`: an opaque, hashable token; compare it
  by identity). The hot path: decode, apply, fan out, nothing else.
* :meth:`Feed.on_subscribed` once the exchange acknowledged the topic on a connection (with the
  ack's time, if it carried one); :meth:`Feed.on_reconnecting` when that connection is lost or
  an attempt to get one failed (``source`` None); :meth:`Feed.on_stale` while the gate keeps the
  topic waiting for a connection (``reason`` says why and until when).
* :meth:`Feed.begin_handover` / :meth:`Feed.end_handover` around a rotation: the feed calls
  ``handover.release(self.name)`` when it no longer needs the old connection (see
  :mod:`~woox_datasource.stream.handover`).
* :meth:`Feed.fail` when the topic can never be served (refused, unknown symbol, session
  closed); :meth:`Feed.shutdown` when its last stream stopped.

A feed that runs work of its own (REST reads) starts it with :meth:`Feed.spawn`, so that a stop
or a failure cancels it at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

from host_stub.spec import Channel, StatusEvent, StatusKind
from woox_datasource import wire
from woox_datasource.rest import RestClient
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.stats import LogLimiter, StreamStats
from woox_datasource.stream.tasks import OwnedTasks

T = TypeVar("T")


class FeedHost(Protocol):
    """What a feed may use of the session's pool."""

    options: StreamOptions
    stats: StreamStats
    limiter: LogLimiter
    rest: RestClient
    """This session's REST client: every request draws on the plugin instance's one budget
    (set a priority for the task first, :func:`~woox_datasource.rest.budget.set_priority`)."""
    rng: random.Random

    def service(self, key: str, make: Callable[[], T]) -> T:
        """The session's one instance of a helper that feeds of a channel share (``make``
        builds it on first use): a history reader, a batching REST reader."""
        ...

    def forget(self, feed: Feed[Any]) -> None: ...


class Consumer(Protocol):
    """What a feed needs of the streams it serves (channels add their own offers)."""

    @property
    def ended(self) -> bool: ...

    def offer_status(self, event: StatusEvent) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class Carrier(Protocol):
    """The slot carrying a feed's topic, as far as anyone holding the feed needs it."""

    def remove(self, feed: Feed[Any]) -> asyncio.Task[None] | None: ...


S = TypeVar("S", bound=Consumer)


class Feed(Generic[S]):
    """One topic of one session and its streams (see the module docstring)."""

    channel: Channel
    """The channel this feed serves (a class attribute, or set per instance)."""
    interval: int | None = None
    """The candle interval (candles only): the ``interval`` of this feed's status events."""

    def __init__(self, host: FeedHost, name: str, symbol: str) -> None:
        self.host = host
        self.name = name
        """The topic."""
        self.symbol = symbol
        """The symbol the topic carries (for the index price, the ``SPOT_`` one)."""
        self.streams: list[S] = []
        self.slot: Carrier | None = None
        self.subscribed = False
        """Acknowledged on the current connection."""
        self.closed = False
        self._tasks = OwnedTasks(name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} streams={len(self.streams)}>"

    # -- from the connection layer --------------------------------------------------------------

    def on_push(self, push: wire.Push, source: Connection) -> None:
        """One push of this topic, carried by ``source``; ``push.data`` is still undecoded."""
        raise NotImplementedError

    def on_subscribed(self, source: Connection, ack_time: int | None) -> None:
        """The topic is subscribed on ``source`` from ``ack_time`` (exchange ms) on."""
        self.subscribed = True
        self.status(StatusKind.CONNECTED)

    def on_reconnecting(self, reason: str, source: Connection | None) -> None:
        """The connection carrying the topic (``source``) is gone, or an attempt to get one
        failed (``source`` None); another attempt follows."""
        self.subscribed = False
        self.status(StatusKind.RECONNECTING, reason=reason)

    def on_stale(self, reason: str) -> None:
        """Not live, and not about to be: ``reason`` says why and until when."""
        self.status(StatusKind.STALE, reason=reason)

    def begin_handover(self, handover: Handover) -> None:
        """A rotation starts: ``handover.new`` will carry the topic too. Release the old
        connection (``handover.release(self.name)``) once it is not needed any more; by
        default at once."""
        self.subscribed = False
        self.status(StatusKind.RECONNECTING, reason=handover.reason)
        handover.release(self.name)

    def end_handover(self, handover: Handover, completed: bool) -> None:
        """The rotation ended: if ``completed``, only ``handover.new`` carries the topic from
        now on (its ack came through :meth:`on_subscribed`); if not, the new connection is
        dropped and the old one goes on (by default the streams hear ``connected`` again)."""
        if not completed and not self.closed:
            self.subscribed = True
            self.status(StatusKind.CONNECTED)

    def malformed(self, error: wire.MalformedFrame) -> None:
        """A push of this topic could not be read: counted, logged (rate-limited), dropped."""
        self.host.stats.malformed += 1
        self.host.limiter.warning("malformed", "%s: ignored %s", self.name, error)

    # -- streams --------------------------------------------------------------------------------

    def attach(self, stream: S) -> None:
        """A stream joins (it hears ``connected`` at once if the topic is live)."""
        self.streams.append(stream)
        if self.subscribed:
            stream.offer_status(self.status_event(StatusKind.CONNECTED))

    def detach(self, stream: S) -> bool:
        """A stream leaves; True if it was the last one (the feed then goes)."""
        if stream in self.streams:
            self.streams.remove(stream)
        return not self.streams

    def status_event(self, kind: StatusKind, **fields: Any) -> StatusEvent:
        return StatusEvent(kind, self.symbol, self.interval, channel=self.channel, **fields)

    def status(self, kind: StatusKind, **fields: Any) -> None:
        """Tell every stream."""
        event = self.status_event(kind, **fields)
        for stream in self.streams:
            stream.offer_status(event)

    # -- work of its own and ending ---------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run ``work`` for this feed; cancelled by :meth:`shutdown` and :meth:`fail`."""
        return self._tasks.spawn(work, what)

    def fail(self, error: Exception) -> None:
        """End every stream of this feed with ``error`` (unknown symbol, refusal, session
        closed); the feed is gone."""
        self.closed = True
        self._tasks.cancel()
        self.host.forget(self)
        streams, self.streams = self.streams, []
        for stream in streams:
            stream.fail(error)

    def shutdown(self) -> list[asyncio.Task[None]]:
        """No stream is left: stop every task of the feed now; returns them, to be awaited."""
        self.closed = True
        return self._tasks.cancel()
