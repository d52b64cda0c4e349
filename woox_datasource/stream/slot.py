"""A logical connection: a set of topics kept subscribed across reconnects and rotation.

The physical :class:`~woox_datasource.stream.connection.Connection` comes and goes; the slot
outlives it. Its single task keeps "topics wanted" and "topics subscribed" in line without ever
waiting on an ack: commands go out as soon as they are worth sending and their replies are taken
as they come. New topics go out ten per SUBSCRIBE (WOO X's limit): full batches at once; a
partial batch waits a loop tick (streams started together join it), keeps waiting while it still
grows tick by tick (a host starting streams one after another), and while an earlier SUBSCRIBE's
ack is pending (what arrives meanwhile joins it). Acks are checked topic by topic. Topics that
go are unsubscribed the same way.

Connections come from the manager's :class:`~woox_datasource.stream.gate.Gate`, which holds the
reconnect discipline for every slot at once (shared backoff, one probe at a time while the
exchange refuses, a budget reserve): a slot asks it for an attempt, and tells it how the attempt
went: healthy once every SUBSCRIBE sent has been answered and something was accepted, failed if
it was refused or died before that. A healthy connection's loss is retried at once.

Rotation is make-before-break before the exchange's 24 h cut: the replacement is opened and
subscribed while the old socket still delivers, then the old one is closed. Both deliver the
same topics for a moment, each push tagged with its connection; every feed says when it no
longer needs the old one (see :mod:`~woox_datasource.stream.handover`), so nothing is lost or
doubled whatever the channel.

A slot whose last topic goes is not asked to unsubscribe and close politely: its task is
cancelled, whatever it was doing (waiting for the gate, connecting, waiting for acks, rotating),
and its sockets are dropped after sending a close frame; that is what makes a stop immediate.

The slot knows a topic only as a name and the feed that owns it (see
:mod:`~woox_datasource.stream.feed` for what it tells the feed); what a topic carries is the
channel's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import aiohttp

from host_stub.spec import NetworkNotAllowed, StreamFailed, UnknownSymbol
from woox_datasource import wire
from woox_datasource.stream.connection import Connection, ConnectionLost
from woox_datasource.stream.feed import Feed
from woox_datasource.stream.gate import Admission, Gate
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.stats import LogLimiter, StreamStats, log


class SessionClosed(Exception):
    """The host closed the aiohttp session the streams were started with."""


class SlotHost(Protocol):
    """What a slot needs from its pool."""

    session: aiohttp.ClientSession
    ws_url: str
    options: StreamOptions
    stats: StreamStats
    limiter: LogLimiter
    gate: Gate
    feeds: dict[str, Feed[Any]]
    """Every feed of the session by topic: the routes of every connection."""

    def slot_done(self, slot: Slot) -> None: ...


_BATCH = wire.MAX_TOPICS_PER_SUBSCRIBE


def _chunks(names: Sequence[str], size: int = _BATCH) -> Iterator[list[str]]:
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
    """Up to ``options.topics_per_connection`` topics on one (replaceable) connection."""

    def __init__(self, host: SlotHost) -> None:
        self._host = host
        self.topics: dict[str, Feed[Any]] = {}
        """Topics wanted on this slot, and their feeds."""
        self.active: set[str] = set()
        """Topics subscribed (acknowledged) on the current connection."""
        self._subscribing: set[str] = set()
        """Topics a SUBSCRIBE is out for (ack pending)."""
        self._unsubscribing: set[str] = set()
        """Topics an UN_SUBSCRIBE is out for (ack pending)."""
        self.conn: Connection | None = None
        self.accepting = True
        self._spare: Connection | None = None
        self._handover: Handover | None = None
        self._wake = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run(), name="woox-stream-slot")

    @property
    def load(self) -> int:
        """Topics that count against the connection's limit (wanted, subscribed or on the way
        in or out)."""
        return len(self.active.union(self.topics, self._subscribing, self._unsubscribing))

    def count_frames(self) -> None:
        for conn in (self.conn, self._spare):
            if conn is not None:
                conn.count()

    def has_room(self) -> bool:
        return self.accepting and self.load < self._host.options.topics_per_connection

    def add(self, topic: Feed[Any]) -> None:
        self.topics[topic.name] = topic
        topic.slot = self
        conn = self.conn
        if conn is not None and topic.name in self.active and topic.name not in self._unsubscribing:
            topic.on_subscribed(conn, None)  # a stream came back for a topic the socket carries
        self._wake.set()

    def remove(self, topic: Feed[Any]) -> asyncio.Task[None] | None:
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
        try:
            while self.topics:
                admission = await host.gate.admit(self._notify_stale)
                try:
                    if not await self._attempt(admission):
                        break
                finally:
                    admission.release()  # (no-op once a verdict was given)
        finally:
            self.accepting = False
            leftovers = [c for c in (self.conn, self._spare) if c is not None]
            for conn in leftovers:
                conn.cancel()
            for conn in leftovers:
                await conn.abort()
            self.conn = self._spare = None
            self._reset()
            host.slot_done(self)

    async def _attempt(self, admission: Admission) -> bool:
        """One connection, from handshake to loss; False if the slot is done for good."""
        host = self._host
        try:
            conn = await self._open()
        except SessionClosed:
            self._fail_all(StreamFailed(
                "the aiohttp session the stream was started with has been closed; "
                "keep it open until the stream is stopped"
            ))  # fmt: skip
            return False
        except NetworkNotAllowed as exc:
            # Policy, not weather: retrying cannot help, so the streams fail with it.
            self._fail_all(exc)
            return False
        except _CONNECT_ERRORS as exc:
            admission.failed(brief(exc))
            host.stats.connect_failures += 1
            self._notify_lost(f"connecting failed ({brief(exc)})", None)
            return True
        reason, healthy = await self._serve(conn, admission)
        if not self.topics:
            return False
        host.stats.connections_lost += 1
        if healthy:
            host.gate.lost()
        self._notify_lost(reason, conn)
        return True

    def _reset(self) -> None:
        self.active = set()
        self._subscribing.clear()
        self._unsubscribing.clear()

    async def _open(self) -> Connection:
        host = self._host
        if host.session.closed:
            raise SessionClosed
        try:
            return await Connection.open(
                host.session,
                host.ws_url,
                options=host.options,
                stats=host.stats,
                limiter=host.limiter,
                routes=host.feeds,
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

    async def _serve(self, conn: Connection, admission: Admission) -> tuple[str, bool]:
        """Keep ``conn`` (and its replacements) in line with ``topics`` until it is lost or no
        topic is left. Returns why it ended and whether it had been healthy. Gives the
        admission its verdict (failed if the connection ended before it was healthy)."""
        opts = self._host.options
        loop = asyncio.get_running_loop()
        self.conn = conn
        self._reset()
        healthy = False
        rotate_at = conn.opened_at + opts.max_connection_life_s
        try:
            while not conn.ended:
                self._wake.clear()
                if not self.topics and not self.active and not self._subscribing:
                    self.accepting = False
                    await conn.close("no stream uses this connection any more")
                    break
                if healthy and loop.time() >= rotate_at:
                    conn, rotate_at = await self._rotate(conn)
                    continue
                try:
                    await self._reconcile(conn)
                except ConnectionLost:
                    continue
                if not healthy and self.active and not self._subscribing:
                    healthy = True
                    admission.succeeded()
                if not self._wake.is_set() and not conn.ended:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(rotate_at if healthy else None):
                            await self._wake.wait()
            reason = conn.reason or "connection closed"
            await conn.close(reason)
            if not healthy and self.topics:
                admission.failed(reason)
            return reason, healthy
        finally:
            await conn.abort()  # no-op unless left by an exception (cancellation)
            if self.conn is not None and self.conn is not conn:
                # Cancelled in a rotation after the new connection took over (while the old one
                # closes): ``conn`` is still the old one, and the new one must not outlive us.
                await self.conn.abort()
            self.conn = None
            self._reset()

    # -- subscriptions ------------------------------------------------------------------------

    def _pending_changes(self) -> tuple[list[str], list[str]]:
        """Topics to unsubscribe and to subscribe now (none already on the way)."""
        moving = self._subscribing.union(self._unsubscribing)
        gone = [n for n in self.active if n not in self.topics and n not in moving]
        new = [n for n in self.topics if n not in self.active and n not in moving]
        return gone, new

    async def _reconcile(self, conn: Connection) -> None:
        """Send what is worth sending now (see the module docstring); replies come back
        through :meth:`_subscribed` and :meth:`_unsubscribed`. Raises ConnectionLost."""
        before = self._pending_changes()
        if not before[0] and not before[1]:
            return
        acks_pending = bool(self._subscribing)
        await asyncio.sleep(0)  # whatever starts in this same loop tick joins these batches
        if conn.ended:
            raise ConnectionLost(conn.reason or "connection closed")
        gone, new = self._pending_changes()
        settled = len(gone) == len(before[0]) and len(new) == len(before[1])
        if not settled:  # still growing tick by tick: full batches only, the rest fills up
            gone = gone[: len(gone) // _BATCH * _BATCH]
        if not settled or acks_pending:  # the rest joins what arrives before those acks
            new = new[: len(new) // _BATCH * _BATCH]
        for batch in _chunks(gone):
            self._unsubscribing.update(batch)
            reply = await conn.request(wire.unsubscribe_frame, batch)
            reply.add_done_callback(functools.partial(self._unsubscribed, conn, batch))
        for batch in _chunks(new):
            self._subscribing.update(batch)
            reply = await conn.request(wire.subscribe_frame, batch)
            reply.add_done_callback(functools.partial(self._subscribed, conn, batch))

    def _subscribed(
        self, conn: Connection, batch: list[str], future: asyncio.Future[wire.CommandReply]
    ) -> None:
        if conn is not self.conn:
            return  # a connection already replaced; its replies no longer matter
        self._subscribing.difference_update(batch)
        self._wake.set()
        if future.cancelled() or future.exception() is not None:
            return  # the connection is gone; the slot's task sees that
        self.active.update(self._apply(conn, batch, future.result()))

    def _unsubscribed(
        self, conn: Connection, batch: list[str], future: asyncio.Future[wire.CommandReply]
    ) -> None:
        if conn is not self.conn:
            return
        self._unsubscribing.difference_update(batch)
        self.active.difference_update(batch)
        self._wake.set()
        if future.cancelled() or future.exception() is not None:
            return
        reply = future.result()
        if not reply.success:
            self._host.limiter.warning(
                "unsub", "%s: UN_SUBSCRIBE %s refused: %s", conn.name, batch, reply.error
            )

    def _apply(self, conn: Connection, batch: list[str], reply: wire.CommandReply) -> set[str]:
        """Tell each topic of ``batch`` how its SUBSCRIBE on ``conn`` went; returns the accepted
        names."""
        taken = set(reply.topics or ()) if reply.success else set()
        accepted: set[str] = set()
        for name in batch:
            topic = self.topics.get(name)
            if name in taken:
                accepted.add(name)
                if topic is not None:
                    topic.on_subscribed(conn, reply.time)
            elif topic is not None:
                del self.topics[name]
                topic.slot = None
                topic.fail(self._refusal(topic, reply))
        return accepted

    async def _subscribe_all(self, conn: Connection, names: list[str]) -> set[str]:
        """Subscribe ``names`` on ``conn`` and wait for every ack (a rotation's replacement).
        Returns the accepted names. Raises ConnectionLost."""
        sent = [(b, await conn.request(wire.subscribe_frame, b)) for b in _chunks(names)]
        replies = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        accepted: set[str] = set()
        for (batch, _), reply in zip(sent, replies, strict=True):
            if isinstance(reply, BaseException):
                raise ConnectionLost(f"subscribing failed: {reply!r}")
            accepted |= self._apply(conn, batch, reply)
        return accepted

    @staticmethod
    def _refusal(topic: Feed[Any], reply: wire.CommandReply) -> Exception:
        if reply.success:
            # WOO X acknowledges an unknown symbol with success and an empty topic list.
            return UnknownSymbol(
                topic.symbol,
                f"WOO X acknowledged the subscription to {topic.name!r} without accepting it "
                "(it does so for symbols it does not list)",
            )
        return StreamFailed(f"WOO X refused to subscribe {topic.name!r}: {reply.error}")

    # -- rotation -----------------------------------------------------------------------------

    async def _rotate(self, old: Connection) -> tuple[Connection, float]:
        """Replace ``old`` by a fresh, fully subscribed connection, hand the topics over (see
        :mod:`~woox_datasource.stream.handover`), then close ``old``. Postponed while the gate
        has nothing to spare (a rotation never takes what a reconnect may need)."""
        host = self._host
        opts = host.options
        loop = asyncio.get_running_loop()
        retry_in = max(opts.backoff_max_s, min(opts.max_connection_life_s / 10, 600.0))
        admission = host.gate.try_admit()
        if admission is None:
            return old, loop.time() + retry_in
        host.stats.rotations += 1
        reason = f"rotating the connection after {old.age:.0f} s (WOO X cuts connections at 24 h)"
        names = [name for name in self.active if name in self.topics]
        handover: Handover | None = None
        feeds: list[Feed[Any]] = []
        try:
            self._spare = new = await self._open()
            handover = self._handover = Handover(old, new, names, reason)
            feeds = [self.topics[name] for name in names if name in self.topics]
            for feed in feeds:
                feed.begin_handover(handover)
            accepted = await self._subscribe_all(new, names)
            for name in set(names) - accepted:
                handover.release(name)  # (refused: that feed has failed)
            admission.succeeded()
            if old.ended:
                handover.done.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(opts.rotation_overlap_s):
                    await handover.done.wait()
            if new.ended:
                raise ConnectionLost(new.reason or "the new connection closed")
        except (*_CONNECT_ERRORS, SessionClosed) as exc:
            if not isinstance(exc, SessionClosed):
                admission.failed(brief(exc))
            spare, self._spare, self._handover = self._spare, None, None
            if spare is not None:
                spare.retire()
            if handover is not None:
                for feed in feeds:
                    feed.end_handover(handover, completed=False)
            if spare is not None:
                await spare.close("rotation failed")
            log.warning("connection rotation failed (%r); keeping the old one for now", exc)
            return old, loop.time() + retry_in
        finally:
            admission.release()
        old.retire()
        self._spare = self._handover = None
        self.conn = new
        self._reset()
        self.active = accepted
        for feed in feeds:
            feed.end_handover(handover, completed=True)
        await old.close("replaced by a fresh connection")
        return new, new.opened_at + opts.max_connection_life_s

    # -- telling the topics -------------------------------------------------------------------

    def _notify_lost(self, reason: str, source: Connection | None) -> None:
        for topic in list(self.topics.values()):
            topic.on_reconnecting(reason, source)

    def _notify_stale(self, reason: str) -> None:
        for topic in list(self.topics.values()):
            topic.on_stale(reason)

    def _fail_all(self, exc: Exception) -> None:
        topics = list(self.topics.values())
        self.topics.clear()
        for topic in topics:
            topic.slot = None
            topic.fail(exc)
