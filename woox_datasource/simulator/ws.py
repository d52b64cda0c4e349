"""The simulated exchange's WebSocket side: ``/v3/public`` connections, commands and pushes.

Each connection has one pusher task. Every ``push_interval_s`` it checks the market clock: for each
subscribed kline topic it sends a final push for every candle that closed since the last tick (in
order, none skipped, however fast the clock runs) and, at most once per market second, the forming
candle's provisional state. The same task enforces the idle timeout, the connection life limit
and optional server PINGs, so a connection costs one task however many topics it carries.
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
from .faults import MALFORMED_KINDS, Faults
from .frames import KlineTopic
from .market import MarketClock
from .records import WsRecord
from .symbols import Market

CLOSE_TIMEOUT_S = 2.0
MAX_FINALS_PER_TICK = 500
"""Finals owed beyond this (a clock at thousands x) go out on the next tick, still in order."""
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
    """Kline pushes delivered (a duplicated push counts once)."""
    finals_sent: int = 0
    """Final pushes produced, including ones then lost to silence or malformed replacement."""
    pushes_lost: int = 0
    malformed_sent: int = 0
    duplicates_sent: int = 0
    server_pings_sent: int = 0
    pongs_received: int = 0
    """``{"cmd":"PONG"}`` frames clients sent (answers to server PINGs)."""


@attrs.define
class _Subscription:
    topic: KlineTopic
    next_final: int
    """Index of the oldest candle whose final push is still owed."""
    last_second: int = -1
    """Market second of the last provisional push."""


class Connection:
    """One client socket and its subscriptions."""

    def __init__(self, conn_id: int, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.id = conn_id
        self.ws = ws
        self.transport = request.transport
        self.remote = request.remote or ""
        self.opened = time.monotonic()
        self.last_activity = self.opened
        self.subs: dict[str, _Subscription] = {}
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
        market: Market,
        clock: MarketClock,
        faults: Faults,
        received: list[WsRecord],
        config: WsConfig,
    ) -> None:
        self.market = market
        self.clock = clock
        self.faults = faults
        self.received = received
        self.config = config
        self.connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self._malformed_kinds = itertools.cycle(MALFORMED_KINDS)
        self._closed = False
        self.stats = WsStats()

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
        conn.pusher = asyncio.create_task(self._run(conn), name=f"woox-sim-ws-{conn.id}")
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
            topic = frames.parse_topic(self.market, name)
            if topic is None:
                continue
            iv = topic.interval
            first = max(iv.index_of(now), topic.listing.first_index(iv))
            conn.subs[name] = _Subscription(topic, first)
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

    async def _send_push(self, conn: Connection, text: str) -> bool:
        faults = self.faults
        if faults.is_silent():
            self.stats.pushes_lost += 1
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
            if conn.subs and not conn.paused and not await self._tick(conn):
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep_for(conn, time.monotonic(), next_ping)):
                    await conn.wake.wait()
            conn.wake.clear()

    def _sleep_for(self, conn: Connection, mono: float, next_ping: float | None) -> float:
        cfg = self.config
        wake = conn.last_activity + cfg.idle_timeout_s
        if conn.subs:
            wake = min(wake, mono + cfg.push_interval_s)
        if next_ping is not None:
            wake = min(wake, next_ping)
        if cfg.max_connection_life_s is not None:
            wake = min(wake, conn.opened + cfg.max_connection_life_s)
        return max(0.0, wake - mono)

    async def _tick(self, conn: Connection) -> bool:
        now = self.clock.now_ms()
        second = now // 1000
        for sub in list(conn.subs.values()):
            topic = sub.topic
            iv, model = topic.interval, topic.listing.model
            current = iv.index_of(now)
            first = topic.listing.first_index(iv)
            if sub.next_final < current:
                lo = max(sub.next_final, first)
                hi = min(current - 1, lo + MAX_FINALS_PER_TICK - 1)
                sub.next_final = hi + 1 if lo <= hi else current
                for units in model.units_range(iv, lo, hi) if lo <= hi else ():
                    self.stats.finals_sent += 1
                    if not await self._send_push(conn, frames.final_push(topic, units, now)):
                        return False
            if sub.next_final != current or current < first or second == sub.last_second:
                continue
            sub.last_second = second
            units = model.units(iv, current)
            if units.is_zero or now <= units.start_ms:
                continue  # no trade yet: WOO X pushes only when there is something new
            if not await self._send_push(conn, frames.provisional_push(topic, units, now)):
                return False
        return True


async def _wait_done(conns: list[Connection]) -> None:
    for conn in conns:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 2.0):
                await conn.done.wait()
