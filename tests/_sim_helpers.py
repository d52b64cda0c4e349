"""Shared helpers for the simulator's own tests: HTTP/WS plumbing and bounded waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from woox_datasource.simulator import WooXSimulator

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_751_623_200_000
"""2025-07-04T10:00:00Z: an hour boundary, long after the default symbols were listed."""

Json = dict[str, Any]


async def get(
    session: aiohttp.ClientSession, sim: WooXSimulator, path: str, **params: object
) -> tuple[int, str]:
    """GET ``path`` with ``params`` (values sent as given, str()-ed); returns status and text."""
    query = {k: str(v) for k, v in params.items()}
    async with session.get(sim.rest_url + path, params=query) as response:
        return response.status, await response.text()


async def get_json(
    session: aiohttp.ClientSession, sim: WooXSimulator, path: str, **params: object
) -> tuple[int, Json]:
    status, text = await get(session, sim, path, **params)
    body = json.loads(text)
    assert isinstance(body, dict)
    return status, body


async def history(
    session: aiohttp.ClientSession, sim: WooXSimulator, **params: object
) -> list[Json]:
    """``klineHistory`` rows; fails the test unless the envelope says success."""
    status, body = await get_json(session, sim, "/v3/public/klineHistory", **params)
    assert status == 200, body
    assert body["success"] is True
    rows = body["data"]["rows"]
    assert isinstance(rows, list)
    return rows


async def recv(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> Json:
    """The next text frame as JSON (fails on close or timeout)."""
    msg = await ws.receive(timeout=within)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    body = json.loads(msg.data)
    assert isinstance(body, dict)
    return body


async def recv_until(
    ws: aiohttp.ClientWebSocketResponse,
    done: Callable[[Json], bool],
    within: float = 10.0,
) -> list[Json]:
    """Frames up to and including the first one ``done`` accepts."""
    frames: list[Json] = []
    async with asyncio.timeout(within):
        while True:
            frame = await recv(ws, within)
            frames.append(frame)
            if done(frame):
                return frames


async def command(ws: aiohttp.ClientWebSocketResponse, cmd: str, *topics: str, cid: str = "1"
                  ) -> Json:  # fmt: skip
    """Send SUBSCRIBE / UN_SUBSCRIBE and return its ack, skipping pushes that arrive first."""
    await ws.send_json({"id": cid, "cmd": cmd, "params": list(topics)})
    frames = await recv_until(ws, lambda f: f.get("cmd") == cmd and f.get("id") == cid)
    return frames[-1]


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition()`` holds, polling; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def row_of(candle: Any) -> Json:
    """A ground-truth ``SimCandle`` as the klineHistory row it must appear as."""
    return {
        "symbol": candle.symbol,
        "open": candle.open,
        "close": candle.close,
        "high": candle.high,
        "low": candle.low,
        "volume": candle.volume,
        "amount": candle.amount,
        "type": candle.type,
        "startTimestamp": candle.start_ms,
        "endTimestamp": candle.end_ms,
    }


def frozen(at: int, **options: Any) -> WooXSimulator:
    """A simulator whose market clock stands at ``at`` until a test moves it, pushing every
    10 ms, without a REST rate limit."""
    from woox_datasource.simulator import MarketClock

    options.setdefault("push_interval_s", 0.01)
    options.setdefault("rate_limit", None)
    return WooXSimulator(clock=MarketClock(at, speed=0), **options)


async def collect(
    ws: aiohttp.ClientWebSocketResponse,
    done: Callable[[list[Json]], bool],
    within: float = 10.0,
) -> list[Json]:
    """Pushes (frames with a topic) until ``done(pushes)``; acks and pongs are skipped."""
    pushes: list[Json] = []
    async with asyncio.timeout(within):
        while not done(pushes):
            frame = await recv(ws, within)
            if "topic" in frame:
                pushes.append(frame)
    return pushes
