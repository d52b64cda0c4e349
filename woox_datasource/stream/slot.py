"""A logical connection: a set of up to 100 topics kept subscribed across reconnects and rotation.

The physical :class:`~woox_datasource.stream.connection.Connection` comes and goes; the slot
outlives it. Its single task reconciles "topics wanted" with "topics subscribed" (UN_SUBSCRIBE
first, then SUBSCRIBE in batches of at most 10, acks checked topic by topic), reconnects after a
loss (within the connection budget: at once after losing a healthy connection, with capped
jittered backoff after failures, see :class:`~woox_datasource.stream.options.Backoff`), and
rotates make-before-break before the exchange's 24 h cut: the replacement is opened and
subscribed while the old socket still delivers, then the old one is closed. Both deliver the same
pushes for a moment; the candle trackers drop the repeats, so nothing is lost or doubled.

A slot whose last topic goes is not asked to unsubscribe and close politely: its task is
cancelled, whatever it was doing (connecting, backing off, waiting for an ack or for the budget,
rotating), and its sockets are dropped after sending a close frame; that is what makes a stop
immediate. A topic leaving a slot that keeps others is unsubscribed by the slot's task, with
nobody waiting for the ack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import aiohttp

from host_stub.spec import NetworkNotAllowed, StreamFailed, UnknownSymbol
from woox_datasource import wire
from woox_datasource.stream.connection import Connection, ConnectionLost
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.options import Backoff, ConnectionBudget, StreamOptions
from woox_datasource.stream.stats import LogLimiter, StreamStats, log

if TYPE_CHECKING:
    from woox_datasource.stream.topic import Topic


class SessionClosed(Exception):
    """The host closed the aiohttp session the streams were started with."""


class SlotHost(Protocol):
    """What a slot needs from its pool."""

    session: aiohttp.ClientSession
    ws_url: str
    options: StreamOptions
    stats: StreamStats
    limiter: LogLimiter
    budget: ConnectionBudget
    backoff: Backoff
    topics: dict[str, Topic]

    def dispatch(self, push: wire.KlinePush) -> None: ...

    def slot_done(self, slot: Slot) -> None: ...


def _chunks(names: Sequence[str], size: int = wire.MAX_TOPICS_PER_SUBSCRIBE) -> Iterator[list[str]]:
    for i in range(0, len(names), size):
        yield list(names[i : i + size])


_CONNECT_ERRORS = (OSError, aiohttp.ClientError, TimeoutError, ConnectionLost)


def brief(exc: BaseException) -> str:
    """A one-line reason for a status event: ``HTTP 503`` for a refused handshake, else the
    exception's type and message, never a multi-line repr of request headers."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}".strip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


class Slot:
    """Up to :data:`wire.MAX_TOPICS_PER_CONNECTION` topics on one (replaceable) connection."""

    def __init__(self, host: SlotHost) -> None:
        self._host = host
        self.topics: dict[str, Topic] = {}
        """Topics wanted on this slot."""
        self.active: set[str] = set()
        """Topics subscribed on the current connection."""
        self.conn: Connection | None = None
        self.accepting = True
        self._spare: Connection | None = None
        self._handover: Handover | None = None
        self._wake = asyncio.Event()
        self._unsubscribing: set[str] = set()
        """Topics an UN_SUBSCRIBE is out for (their ack pending)."""
        self.task = asyncio.get_running_loop().create_task(self._run(), name="woox-stream-slot")

    @property
    def load(self) -> int:
        """Topics that count against the connection's limit (wanted or still subscribed)."""
        return len(self.active.union(self.topics))

    def count_frames(self) -> None:
        for conn in (self.conn, self._spare):
            if conn is not None:
                conn.count()

    def has_room(self) -> bool:
        return self.accepting and self.load < wire.MAX_TOPICS_PER_CONNECTION

    def add(self, topic: Topic) -> None:
        self.topics[topic.name] = topic
        topic.slot = self
        if topic.name in self.active and topic.name not in self._unsubscribing:
            topic.on_subscribed()  # a stream came back for a topic the socket still carries
        self._wake.set()

    def remove(self, topic: Topic) -> asyncio.Task[None] | None:
        """Stop wanting ``topic``. If it was the last, the slot shuts down (see the module
        docstring) and its task is returned for the caller to await; otherwise the task
        unsubscribes it in the background and None is returned."""
        if self.topics.get(topic.name) is topic:
            del self.topics[topic.name]
        topic.slot = None
        if self.topics:
            self._wake.set()
            return None
        return self.shutdown()

    def shutdown(self) -> asyncio.Task[None]:
        """End the slot now: no more topics are taken, the task is cancelled (its cleanup drops
        the sockets). Returns the task, to be awaited; idempotent."""
        self.accepting = False
        self.topics.clear()
        self.task.cancel()
        return self.task

    # -- the slot's task ----------------------------------------------------------------------

    async def _run(self) -> None:
        host = self._host
        failures = 0
        try:
            while self.topics:
                delay = host.backoff.delay(failures)
                if delay:
                    await asyncio.sleep(delay)
                    if not self.topics:
                        break
                try:
                    conn = await self._connect()
                except SessionClosed:
                    self._fail_all(StreamFailed(
                        "the aiohttp session the stream was started with has been closed; "
                        "keep it open until the stream is stopped"
                    ))  # fmt: skip
                    break
                except NetworkNotAllowed as exc:
                    # Policy, not weather: retrying cannot help, so the streams fail with it.
                    self._fail_all(exc)
                    break
                except _CONNECT_ERRORS as exc:
                    failures += 1
                    host.stats.connect_failures += 1
                    self._notify_lost(f"connecting failed ({brief(exc)}); retry {failures}")
                    continue
                reason, healthy = await self._serve(conn)
                if not self.topics:
                    break
                host.stats.connections_lost += 1
                failures = 0 if healthy else failures + 1
                self._notify_lost(reason)
        finally:
            self.accepting = False
            leftovers = [c for c in (self.conn, self._spare) if c is not None]
            for conn in leftovers:
                conn.cancel()
            for conn in leftovers:
                await conn.abort()
            self.conn = self._spare = None
            self.active.clear()
            self._unsubscribing.clear()
            host.slot_done(self)

    async def _connect(self, on_push: Callable[[wire.KlinePush], None] | None = None) -> Connection:
        host = self._host
        if host.session.closed:
            raise SessionClosed
        if (why := host.budget.exhausted()) is not None:
            self._notify_lost(why)
        await host.budget.acquire()
        if host.session.closed:
            raise SessionClosed
        try:
            return await Connection.open(
                host.session,
                host.ws_url,
                options=host.options,
                stats=host.stats,
                limiter=host.limiter,
                on_push=on_push or host.dispatch,
                on_close=self._on_conn_closed,
            )
        except RuntimeError as exc:  # aiohttp: "Session is closed"
            if host.session.closed:
                raise SessionClosed from exc
            raise

    def _on_conn_closed(self, _conn: Connection) -> None:
        self._wake.set()
        if self._handover is not None:
            self._handover.done.set()  # stop waiting: one side of the rotation is gone

    async def _serve(self, conn: Connection) -> tuple[str, bool]:
        """Keep ``conn`` (and its replacements) in line with ``topics`` until it is lost or no
        topic is left. Returns why it ended and whether it had been healthy: every topic it
        was asked for answered by an ack (then its loss is retried at once)."""
        opts = self._host.options
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.active = set()
        healthy = False
        rotate_at = conn.opened_at + opts.max_connection_life_s
        try:
            while not conn.ended:
                self._wake.clear()
                if not self.topics and not self.active:
                    self.accepting = False
                    await conn.close("no stream uses this connection any more")
                    break
                if loop.time() >= rotate_at:
                    conn, rotate_at = await self._rotate(conn)
                    continue
                try:
                    if await self._reconcile(conn):
                        continue  # look again: that may have been the last topic
                except ConnectionLost:
                    continue
                healthy = True  # (nothing left to subscribe or unsubscribe, so all acked)
                if not self._wake.is_set() and not conn.ended:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(rotate_at):
                            await self._wake.wait()
            await conn.close(conn.reason or "connection closed")
            return conn.reason or "connection closed", healthy
        finally:
            await conn.abort()  # no-op unless left by an exception (cancellation)
            self.conn = None
            self.active.clear()
            self._unsubscribing.clear()

    async def _reconcile(self, conn: Connection) -> bool:
        """Unsubscribe what is no longer wanted, subscribe what is new; True if anything was."""
        gone = [name for name in self.active if name not in self.topics]
        for batch in _chunks(gone):
            self._unsubscribing.update(batch)
            reply = await conn.command(wire.unsubscribe_frame, batch)
            if not reply.success:
                self._host.limiter.warning(
                    "unsub", "%s: UN_SUBSCRIBE %s refused: %s", conn.name, batch, reply.error
                )
            self.active.difference_update(batch)
            self._unsubscribing.difference_update(batch)
        new = [name for name in self.topics if name not in self.active]
        if new:
            self.active.update(await self._subscribe(conn, new))
        return bool(gone or new)

    async def _subscribe(self, conn: Connection, names: list[str]) -> set[str]:
        """Subscribe ``names`` in batches (sent together, acks awaited together); tell each
        topic how it went. Returns the accepted names. Raises ConnectionLost."""
        batches = list(_chunks(names))
        replies = await asyncio.gather(
            *(conn.command(wire.subscribe_frame, batch) for batch in batches),
            return_exceptions=True,
        )
        accepted: set[str] = set()
        lost: BaseException | None = None
        for batch, reply in zip(batches, replies, strict=True):
            if isinstance(reply, BaseException):
                lost = reply
                continue
            taken = set(reply.topics or ()) if reply.success else set()
            for name in batch:
                topic = self.topics.get(name)
                if name in taken:
                    accepted.add(name)
                    if topic is not None:
                        topic.on_subscribed()
                elif topic is not None:
                    del self.topics[name]
                    topic.slot = None
                    topic.fail(self._refusal(topic, reply))
        if lost is not None:
            if isinstance(lost, ConnectionLost):
                raise lost
            raise ConnectionLost(f"subscribing failed: {lost!r}")
        return accepted

    @staticmethod
    def _refusal(topic: Topic, reply: wire.CommandReply) -> Exception:
        if reply.success:
            # WOO X acknowledges an unknown symbol with success and an empty topic list.
            return UnknownSymbol(
                topic.symbol,
                f"WOO X acknowledged the subscription to {topic.name!r} without accepting it "
                "(it does so for symbols it does not list)",
            )
        return StreamFailed(f"WOO X refused to subscribe {topic.name!r}: {reply.error}")

    async def _rotate(self, old: Connection) -> tuple[Connection, float]:
        """Replace ``old`` by a fresh, fully subscribed connection, hand the topics over (see
        :mod:`~woox_datasource.stream.handover`), then close ``old``."""
        host = self._host
        opts = host.options
        loop = asyncio.get_running_loop()
        host.stats.rotations += 1
        reason = f"rotating the connection after {old.age:.0f} s (WOO X cuts connections at 24 h)"
        for topic in list(self.topics.values()):
            topic.on_reconnecting(reason)
        names = list(self.topics)
        handover = self._handover = Handover(names, host.topics, host.dispatch, host.stats)
        old.on_push = handover.from_old
        try:
            self._spare = new = await self._connect(on_push=handover.from_new)
            accepted = await self._subscribe(new, names)
            handover.drop(set(names) - accepted)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(opts.rotation_overlap_s):
                    await handover.done.wait()
            if new.ended:
                raise ConnectionLost(new.reason or "the new connection closed")
        except (*_CONNECT_ERRORS, SessionClosed) as exc:
            old.on_push = host.dispatch
            spare, self._spare, self._handover = self._spare, None, None
            if spare is not None:
                await spare.close("rotation failed")
            log.warning("connection rotation failed (%r); keeping the old one for now", exc)
            for topic in list(self.topics.values()):
                if topic.name in self.active:
                    topic.on_subscribed()
            retry_in = max(opts.backoff_max_s, min(opts.max_connection_life_s / 10, 600.0))
            return old, loop.time() + retry_in
        handover.finish()
        new.on_push = host.dispatch
        self._spare = self._handover = None
        self.conn = new
        self.active = accepted
        await old.close("replaced by a fresh connection")
        return new, new.opened_at + opts.max_connection_life_s

    def _notify_lost(self, reason: str) -> None:
        for topic in list(self.topics.values()):
            topic.on_reconnecting(reason)

    def _fail_all(self, exc: Exception) -> None:
        topics = list(self.topics.values())
        self.topics.clear()
        for topic in topics:
            topic.slot = None
            topic.fail(exc)
