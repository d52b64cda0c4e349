"""The simulated exchange's WebSocket side: ``/v3/public`` connections, commands and pushes.

Each connection has one pusher task. It sleeps until the earliest instant one of its feeds (see
``feeds``) is due, at least ``push_interval_s`` apart (or until a subscription or a jump of the
market clock wakes it), then pulls every due feed and sends what it returns. The same task
enforces the idle timeout, the connection life limit and optional server PINGs, so a connection
costs one task however many topics it carries, and a topic costs nothing between its pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

import attrs
from aiohttp import WSCloseCode, WSMsgType, web

from . import frames
from .channels import open_feed
from .clock import MarketClock
from .faults import MALFORMED_KINDS, Faults
from .feeds import NEVER, Feed
from .models import Models
from .records import WsRecord
from .rolling import Warmer

CLOSE_TIMEOUT_S = 2.0
UNSUBSCRIBE_MAX_TOPICS = 20


@attrs.frozen
class WsConfig:
    idle_timeout_s: float = 60.0
    server_ping_interval_s: float | None = None
    push_interval_s: float = 0.05
    max_topics_per_connection: int = 100
    max_topics_per_request: int = 10
    max_connection_life_s: float | None = None


@attrs.define
class WsStats:
    """Counters of what the WebSocket side did, for tests and benchmarks to assert on."""

    connections_opened: int = 0
    connections_refused: int = 0
    pushes_sent: int = 0
    """Pushes delivered, every channel (a duplicated push counts once)."""
    finals_sent: int = 0
    """Final pushes produced, including ones then lost to silence or malformed replacement."""
    pushes_lost: int = 0
    malformed_sent: int = 0
    duplicates_sent: int = 0
    server_pings_sent: int = 0
    pongs_received: int = 0
    """``{"cmd":"PONG"}`` frames clients sent (answers to server PINGs)."""
    book_deltas_lost: int = 0
    """Book deltas dropped by :meth:`Faults.lose_book_deltas` (their chain breaks there)."""
    feed_pulls: int = 0
    """Times a feed was asked for its due frames: what serving the subscribed topics costs."""


class Connection:
    """One client socket and its subscriptions."""

    def __init__(self, conn_id: int, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.id = conn_id
        self.ws = ws
        self.transport = request.transport
        self.remote = request.remote or ""
        self.opened = time.monotonic()
        self.last_activity = self.opened
        self.subs: dict[str, Feed] = {}
        self.pusher: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[Any] | None = None
        self.paused = False
        self.wake = asyncio.Event()
        """Set when the pusher should look again before its timer (a new subscription)."""
        self.done = asyncio.Event()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the client sees code 1006)."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self, code: int, message: bytes = b"") -> None:
        """Close with a close frame; abort if the client does not answer in time."""
        if self.closer is not None:
            return
        self.closer = asyncio.current_task()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 0.5):
                await self.ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError):
            self.abort()


class WsHub:
    """Every WebSocket connection of one simulator, and the knobs tests turn on them."""

    def __init__(
        self,
        models: Models,
        warmer: Warmer,
        clock: MarketClock,
        faults: Faults,
        received: list[WsRecord],
        config: WsConfig,
    ) -> None:
        self.models = models
        self.market = models.market
        self.warmer = warmer
        self.clock = clock
        self.faults = faults
        self.received = received
        self.config = config
        self.connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self._malformed_kinds = itertools.cycle(MALFORMED_KINDS)
        self._closed = False
        self.stats = WsStats()
        self.failures: list[Exception] = []
        """Errors raised inside a pusher (simulator bugs), raised again by ``close``."""
        clock.add_listener(self._clock_moved)

    def _clock_moved(self) -> None:
        """The market clock jumped or changed pace: every pusher re-reads it now."""
        for conn in self.connections.values():
            conn.wake.set()

    # ---------------------------------------------------------------- connection lifecycle

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._closed or self.faults.is_refusing():
            self.stats.connections_refused += 1
            status = self.faults.refuse_status if not self._closed else 503
            return web.Response(status=status, text="Service Unavailable")
        ws = web.WebSocketResponse(
            autoping=False, compress=False, timeout=CLOSE_TIMEOUT_S, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        conn = Connection(next(self._ids), ws, request)
        self.connections[conn.id] = conn
        self.stats.connections_opened += 1
        conn.pusher = asyncio.create_task(self._guarded(conn), name=f"woox-sim-ws-{conn.id}")
        try:
            async for msg in ws:
                conn.last_activity = time.monotonic()
                if msg.type is WSMsgType.ERROR:
                    break
                await self._on_frame(conn, msg)
        finally:
            pusher = conn.pusher
            if conn.closer is not pusher:
                pusher.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT_S + 1.0):
                    await asyncio.wait([pusher])
            del self.connections[conn.id]
            conn.done.set()
        return ws

    async def drop_all(self) -> None:
        """Abort every socket abruptly and wait until the server has let go of them."""
        conns = list(self.connections.values())
        for conn in conns:
            conn.abort()
        await _wait_done(conns)

    async def close(self) -> None:
        """Refuse new handshakes, close every socket with 1001 (going away), wait for them."""
        self._closed = True
        self.clock.remove_listener(self._clock_moved)
        conns = list(self.connections.values())
        await asyncio.gather(*(c.close(WSCloseCode.GOING_AWAY, b"server shutdown") for c in conns))
        await _wait_done(conns)

    # ---------------------------------------------------------------- client frames

    async def _on_frame(self, conn: Connection, msg: Any) -> None:
        now = time.monotonic()
        if msg.type is WSMsgType.PING:
            self.received.append(WsRecord(now, conn.id, "ping", "", None))
            if not self.faults.is_silent():
                await conn.ws.pong(msg.data)
            return
        if msg.type is WSMsgType.PONG:
            self.received.append(WsRecord(now, conn.id, "pong", "", None))
            return
        if msg.type is WSMsgType.BINARY:
            text = bytes(msg.data).decode("utf-8", "replace")
            self.received.append(WsRecord(now, conn.id, "binary", text, None))
            await self._send(
                conn, frames.error_reply("", self.clock.now_ms(), frames.INVALID_REQUEST)
            )
            return
        text = str(msg.data)
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = None
        self.received.append(WsRecord(now, conn.id, "text", text, parsed))
        answer = self._command(conn, parsed)
        if answer is not None:
            await self._send(conn, answer)

    def _command(self, conn: Connection, msg: Any) -> str | None:
        now = self.clock.now_ms()
        if not isinstance(msg, dict):
            return frames.error_reply("", now, frames.INVALID_REQUEST)
        request_id = msg.get("id", "")
        cmd = msg.get("cmd")
        cmd = cmd.upper() if isinstance(cmd, str) else None
        if cmd == "PING":
            return frames.pong(now)
        if cmd == "PONG":
            self.stats.pongs_received += 1
            return None
        if cmd == "SUBSCRIBE":
            return self._subscribe(conn, request_id, msg.get("params"), now)
        if cmd == "UN_SUBSCRIBE":
            return self._unsubscribe(conn, request_id, msg.get("params"), now)
        if cmd == "LIST_SUBSCRIPTION":
            return frames.reply(request_id, cmd, True, now, list(conn.subs))
        return frames.error_reply(request_id, now, frames.INVALID_COMMAND)

    def _subscribe(self, conn: Connection, request_id: Any, params: Any, now: int) -> str:
        if not isinstance(params, list) or len(params) > self.config.max_topics_per_request:
            return frames.reply(request_id, "SUBSCRIBE", False, now, frames.INVALID_COMMAND)
        accepted: list[str] = []
        for name in params:
            if not isinstance(name, str) or name in conn.subs:
                continue
            if len(conn.subs) >= self.config.max_topics_per_connection:
                break
            feed = open_feed(self.models, self.warmer.request, name, now)
            if feed is None:
                continue
            conn.subs[name] = feed
            accepted.append(name)
        if accepted:
            conn.wake.set()
        return frames.reply(request_id, "SUBSCRIBE", True, now, accepted)

    def _unsubscribe(self, conn: Connection, request_id: Any, params: Any, now: int) -> str:
        if not isinstance(params, list) or len(params) > UNSUBSCRIBE_MAX_TOPICS:
            return frames.reply(request_id, "UN_SUBSCRIBE", False, now, frames.INVALID_COMMAND)
        removed = [p for p in params if isinstance(p, str) and conn.subs.pop(p, None) is not None]
        return frames.reply(request_id, "UN_SUBSCRIBE", True, now, removed)

    # ---------------------------------------------------------------- sending

    async def _send(self, conn: Connection, text: str) -> bool:
        """Send one frame unless the server is silent; False once the socket is gone."""
        if self.faults.is_silent():
            return True
        try:
            await conn.ws.send_str(text)
        except ConnectionError:
            return False
        return True

    async def _send_push(self, conn: Connection, text: str, feed: Feed) -> bool:
        faults = self.faults
        if faults.is_silent():
            self.stats.pushes_lost += 1
            return True
        if feed.kind == "book" and faults.take_book_loss(feed.name):
            self.stats.pushes_lost += 1
            self.stats.book_deltas_lost += 1
            return True
        if faults.malformed_pending > 0:
            faults.malformed_pending -= 1
            self.stats.malformed_sent += 1
            if not await self._send(conn, frames.malformed(next(self._malformed_kinds), text)):
                return False
            if faults.malformed_replace:
                self.stats.pushes_lost += 1
                return True
        copies = 1
        if faults.duplicate_pending > 0:
            faults.duplicate_pending -= 1
            self.stats.duplicates_sent += 1
            copies = 2
        for _ in range(copies):
            if not await self._send(conn, text):
                return False
        self.stats.pushes_sent += 1
        return True

    # ---------------------------------------------------------------- the pusher

    async def _guarded(self, conn: Connection) -> None:
        """The pusher; a failure in it is a simulator bug: the connection is aborted and the
        error kept, to be raised by the simulator's ``close`` (so the test that hit it fails)."""
        try:
            await self._run(conn)
        except Exception as exc:  # kept, and raised again by close
            self.failures.append(exc)
            conn.abort()

    async def _run(self, conn: Connection) -> None:
        cfg = self.config
        next_ping = conn.opened + cfg.server_ping_interval_s if cfg.server_ping_interval_s else None
        while True:
            mono = time.monotonic()
            if mono - conn.last_activity >= cfg.idle_timeout_s:
                conn.abort()  # like WOO X: no close frame, the client sees 1006
                return
            life = cfg.max_connection_life_s
            if life is not None and mono - conn.opened >= life:
                await conn.close(WSCloseCode.GOING_AWAY, b"connection life exceeded")
                return
            if next_ping is not None and cfg.server_ping_interval_s and mono >= next_ping:
                next_ping = mono + cfg.server_ping_interval_s
                self.stats.server_pings_sent += 1
                if not await self._send(conn, frames.server_ping(self.clock.now_ms())):
                    return
            due = NEVER
            if conn.subs and not conn.paused:
                due = await self._tick(conn)
                if due < 0:
                    return
            timeout = self._sleep_for(conn, time.monotonic(), next_ping, due)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await conn.wake.wait()
            conn.wake.clear()

    def _sleep_for(
        self, conn: Connection, mono: float, next_ping: float | None, due_ms: int
    ) -> float:
        cfg = self.config
        wake = conn.last_activity + cfg.idle_timeout_s
        if conn.paused and conn.subs:
            wake = min(wake, mono + cfg.push_interval_s)
        elif due_ms < NEVER:
            until = self.clock.real_seconds_until(due_ms)
            wake = min(wake, mono + max(cfg.push_interval_s, until))
        if next_ping is not None:
            wake = min(wake, next_ping)
        if cfg.max_connection_life_s is not None:
            wake = min(wake, conn.opened + cfg.max_connection_life_s)
        return max(0.0, wake - mono)

    async def _tick(self, conn: Connection) -> int:
        """Pull every due feed and send its frames; the earliest next due instant, or -1 once the
        socket is gone."""
        now = self.clock.now_ms()
        due = NEVER
        for feed in list(conn.subs.values()):
            if feed.next_due <= now:
                self.stats.feed_pulls += 1
                texts = feed.pull(now)
                self.stats.finals_sent += feed.finals
                for text in texts:
                    if not await self._send_push(conn, text, feed):
                        return -1
            due = min(due, feed.next_due)
        return due


async def _wait_done(conns: list[Connection]) -> None:
    for conn in conns:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 2.0):
                await conn.done.wait()
