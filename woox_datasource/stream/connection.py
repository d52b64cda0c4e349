"""One WebSocket to WOO X: pushes routed by topic, commands with checked acks, keep-alive PINGs,
silence detection.

The connection knows topics and frames, never a channel's payload. It reads only a frame's
envelope (``wire.decode_frame``: topic, send time, payload left undecoded) and hands each push,
with one dict lookup, to the receiver that owns its topic, saying which connection carried it
(during a rotation two connections carry the same topics, and a channel may care which). It
matches command replies to the request that caused them by id, answers server PINGs, and
declares itself dead when no frame at all arrived for ``silence_timeout_s``. Our own PINGs are
what guarantee frames on a quiet market, so silence really means a dead path (a half-open TCP
connection is otherwise invisible until the OS gives up, minutes later).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

import aiohttp

from woox_datasource import wire
from woox_datasource.stream.options import STOP_CLOSE_WAIT_S, StreamOptions
from woox_datasource.stream.stats import LogLimiter, StreamStats, log

_TEXT = aiohttp.WSMsgType.TEXT
_BINARY = aiohttp.WSMsgType.BINARY
_ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
_ERROR = aiohttp.WSMsgType.ERROR
_Push = wire.Push


class Receiver(Protocol):
    """Whoever owns a topic's pushes (a channel's feed): it decodes the payload itself."""

    def on_push(self, push: wire.Push, source: Connection) -> None: ...


Routes = Mapping[str, Receiver]
"""Topic -> its receiver: where a connection delivers each push."""

RETIRED: Final[Routes] = {}
"""The routes of a connection that serves no topic any more (the old side of a finished
rotation, the new side of a failed one): its last pushes are repeats, counted and dropped."""


class ConnectionLost(Exception):
    """The connection ended (or was found dead) while a command was outstanding."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Connection:
    """An open WebSocket. Create with :meth:`open`; it reads until closed, then calls
    ``on_close(self)`` once; ``reason`` says why it ended."""

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        options: StreamOptions,
        stats: StreamStats,
        limiter: LogLimiter,
        routes: Routes,
        on_close: Callable[[Connection], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.name = f"ws{next(self._ids)}"
        self._ws = ws
        self._options = options
        self._stats = stats
        self._limiter = limiter
        self.routes = routes
        """Where pushes go, by topic (the pool's feeds); :data:`RETIRED` once this connection
        serves nothing any more."""
        self._on_close = on_close
        self._loop = loop
        self._pending: dict[str, asyncio.Future[wire.CommandReply]] = {}
        self._due: dict[str, float] = {}
        """When each pending command's reply is due (loop time)."""
        self._kick = asyncio.Event()
        self._req_ids = itertools.count(1)
        self.opened_at = loop.time()
        self.rx = 0
        """Frames received (any kind): the keep-alive watches it to detect silence."""
        self._controls = 0
        self._counted = self._counted_controls = 0
        self.reason: str | None = None
        self.ended = False
        self._closing = False
        self._reader = loop.create_task(self._read(), name=f"woox-stream-{self.name}-reader")
        self._keeper = loop.create_task(
            self._keep_alive(), name=f"woox-stream-{self.name}-keepalive"
        )

    @classmethod
    async def open(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        *,
        options: StreamOptions,
        stats: StreamStats,
        limiter: LogLimiter,
        routes: Routes,
        on_close: Callable[[Connection], None],
    ) -> Connection:
        """Connect (raising aiohttp/OS errors or TimeoutError as they come)."""
        async with asyncio.timeout(options.connect_timeout_s):
            ws = await session.ws_connect(
                url,
                autoping=True,
                heartbeat=None,
                compress=0,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=options.close_timeout_s),
            )
        stats.connections_opened += 1
        return cls(
            ws,
            options=options,
            stats=stats,
            limiter=limiter,
            routes=routes,
            on_close=on_close,
        )

    @property
    def age(self) -> float:
        return self._loop.time() - self.opened_at

    # -- commands -----------------------------------------------------------------------------

    async def request(
        self, build: Callable[[str, Sequence[str]], str], topics: Sequence[str]
    ) -> asyncio.Future[wire.CommandReply]:
        """Send one command frame; the future gets the reply carrying its id. Nothing waits
        here for the reply: many commands may be out at once. A reply that does not come within
        ``ack_timeout_s`` means the connection is broken: it is closed (by the keep-alive task)
        and the future fails with :class:`ConnectionLost`, as every pending one does when the
        connection ends. Raises ConnectionLost if the frame cannot be sent."""
        if self.ended:
            raise ConnectionLost(self.reason or "connection closed")
        req_id = str(next(self._req_ids))
        future: asyncio.Future[wire.CommandReply] = self._loop.create_future()
        self._pending[req_id] = future
        self._due[req_id] = self._loop.time() + self._options.ack_timeout_s
        future.add_done_callback(lambda _: self._forget(req_id))
        try:
            await self._ws.send_str(build(req_id, topics))
        except (ConnectionError, aiohttp.ClientError) as exc:
            reason = f"send failed: {exc!r}"
            future.cancel()
            await self._shutdown(reason)
            raise ConnectionLost(reason) from None
        self._kick.set()  # the keep-alive task now watches this reply's deadline too
        return future

    async def command(
        self, build: Callable[[str, Sequence[str]], str], topics: Sequence[str]
    ) -> wire.CommandReply:
        """:meth:`request` and wait for the reply."""
        return await (await self.request(build, topics))

    def _forget(self, req_id: str) -> None:
        self._pending.pop(req_id, None)
        self._due.pop(req_id, None)

    # -- reading ------------------------------------------------------------------------------

    async def _read(self) -> None:
        ws = self._ws
        receive = ws.receive
        decode = wire.decode_frame
        reason = "connection closed"
        try:
            while True:
                msg = await receive()
                self.rx += 1
                kind = msg.type
                if kind is _TEXT or kind is _BINARY:
                    try:
                        frame = decode(msg.data)
                        if type(frame) is _Push:
                            receiver = self.routes.get(frame.topic)
                            if receiver is not None:
                                receiver.on_push(frame, self)
                            else:
                                self._unrouted(frame)
                            continue
                        self._controls += 1
                        await self._control(frame)
                    except wire.MalformedFrame as exc:
                        self._stats.malformed += 1
                        self._limiter.warning("malformed", "%s: ignored %s", self.name, exc)
                    except Exception:
                        log.exception("%s: error handling a frame (ignored)", self.name)
                elif kind in _ENDED:
                    self.rx -= 1
                    code = ws.close_code
                    reason = "server closed the connection" + (f" (code {code})" * bool(code))
                    break
                elif kind is _ERROR:
                    self.rx -= 1
                    reason = f"connection error: {ws.exception()!r}"
                    break
        except asyncio.CancelledError:
            reason = "connection closed"
            raise
        except Exception as exc:  # the transport failed under us
            reason = f"connection error: {exc!r}"
        finally:
            self._finish(reason)

    def _unrouted(self, push: wire.Push) -> None:
        if self.routes is RETIRED:
            self._stats.duplicates += 1  # another connection carries this topic now
            return
        self._stats.unknown_topic += 1
        self._limiter.warning("topic", "push for a topic no stream wants: %s", push.topic)

    def retire(self) -> None:
        """Serve no topic any more: the pushes still in flight are dropped (see RETIRED)."""
        self.routes = RETIRED

    def count(self) -> None:
        """Move the reader's frame counts into the shared stats (kept apart on the hot path)."""
        frames, controls = self.rx - self._counted, self._controls - self._counted_controls
        self._counted, self._counted_controls = self.rx, self._controls
        self._stats.frames += frames
        self._stats.pushes += frames - controls

    async def _control(self, frame: wire.Frame) -> None:
        if type(frame) is wire.CommandReply:
            future = self._pending.get(frame.id)
            if future is not None and not future.done():
                future.set_result(frame)
                # Let the ack be handled before the pushes that followed it in the same read
                # (a feed hears "subscribed" before the first push of its subscription).
                await asyncio.sleep(0)
                return
            self._stats.unexpected_reply += 1
            self._limiter.warning("reply", "%s: unexpected reply ignored: %s", self.name, frame)
        elif type(frame) is wire.ServerPing:
            self._stats.server_pings += 1
            ts = frame.ts if frame.ts is not None else _wall_ms()
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await self._ws.send_str(wire.pong_frame(ts))
        # wire.Pong: its arrival already counted as life

    def _finish(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self.reason is None:
            self.reason = reason
        self.count()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(ConnectionLost(self.reason))
        self._pending.clear()
        self._due.clear()
        if not self._closing and not self._keeper.done():
            self._keeper.cancel()  # (when closing, close() or the keeper itself ends it)
        self._on_close(self)

    # -- keep-alive ---------------------------------------------------------------------------

    async def _keep_alive(self) -> None:
        """PING on schedule; declare the connection dead after ``silence_timeout_s`` without a
        frame, or when a command's reply is overdue. The reader only counts frames (no clock
        read per frame); this task samples the count often enough to detect silence within a
        quarter of the timeout, and is woken when a command goes out."""
        opts = self._options
        clock = self._loop.time
        check = opts.silence_timeout_s / 4
        next_ping = clock() + opts.ping_interval_s
        seen, last_rx = self.rx, clock()
        while True:
            self._kick.clear()
            now = clock()
            if self.rx != seen:
                seen, last_rx = self.rx, now
                self.count()
            deadline = last_rx + opts.silence_timeout_s
            if now >= deadline:
                self._stats.silences += 1
                why = f"no frame for {opts.silence_timeout_s:g} s (silent connection)"
                await self._shutdown(why)
                return
            reply_due = min(self._due.values(), default=math.inf)
            if now >= reply_due:
                await self._shutdown(f"no reply to a command within {opts.ack_timeout_s:g} s")
                return
            if now >= next_ping:
                try:
                    await self._ws.send_str(wire.ping_frame(_wall_ms()))
                except (ConnectionError, aiohttp.ClientError) as exc:
                    await self._shutdown(f"PING failed: {exc!r}")
                    return
                self._stats.pings_sent += 1
                next_ping = now + opts.ping_interval_s
            wake = min(next_ping, deadline, now + check, reply_due)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - now)):
                    await self._kick.wait()

    # -- closing ------------------------------------------------------------------------------

    async def _shutdown(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._closing = True
        # Closing breaks the reader's receive(); the close handshake is bounded by ws_close.
        with contextlib.suppress(Exception):
            await self._ws.close()

    async def close(self, reason: str) -> None:
        """Close the socket and wait until both of its tasks are gone. Idempotent."""
        try:
            await self._shutdown(reason)
        finally:  # even when cancelled mid-handshake
            if not self._keeper.done() and self._keeper is not asyncio.current_task():
                self._keeper.cancel()
        await self._settle()

    async def _settle(self) -> None:
        """Wait for both tasks to end (``asyncio.wait``: their cancellation is not re-raised
        here, while a cancellation of our caller still is)."""
        tasks = [t for t in (self._reader, self._keeper) if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks)

    def cancel(self) -> None:
        """Stop reading and pinging now (the first, synchronous half of :meth:`abort`)."""
        for task in (self._reader, self._keeper):
            if task is not asyncio.current_task():
                task.cancel()

    async def abort(self) -> None:
        """Tear down at once (stop, shutdown, cancellation): cancel both tasks, send the close
        frame and drop the socket after at most :data:`STOP_CLOSE_WAIT_S` (aiohttp closes the
        transport when its close handshake is cut short). Idempotent, and cheap on a connection
        already closed."""
        self.cancel()
        await self._settle()
        if not self._ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_CLOSE_WAIT_S):
                    await self._ws.close()
