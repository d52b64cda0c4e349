"""Benchmark mode: valid kline pushes sent as fast as the sockets take them.

The frames are encoded once up front (a few provisional states of each subscribed topic's forming
candle); only the send time is spliced in per frame, so the measurement is of the client, not of
the simulator's encoder."""

from __future__ import annotations

import asyncio
import time

import attrs

from . import frames
from .feeds import KlineFeed
from .ws import Connection, WsHub

_SEND, _MADE = -1, -2


@attrs.frozen
class BlastReport:
    """What :func:`blast` sent: ``messages`` frames over ``connections`` in ``elapsed_s``."""

    messages: int
    connections: int
    elapsed_s: float


async def blast(
    hub: WsHub, messages: int, *, variants: int = 16, rate: float | None = None
) -> BlastReport:
    """Send ``messages`` pushes to every connection that has kline subscriptions, cycling over
    its topics: as fast as the socket takes them, or ``rate`` per second per connection. Regular
    pushes pause meanwhile (finals owed are sent afterwards, none lost) and faults do not apply.
    Envelope ``ts`` and ``data.ts`` hold the wall-clock send time in ms (``time.time()``), so a
    client measures latency against its own wall clock."""
    if messages < 0 or variants < 1 or (rate is not None and not rate > 0):
        got = f"messages={messages}, variants={variants}, rate={rate}"
        raise ValueError(f"blast needs messages >= 0, variants >= 1 and rate > 0; got {got}")
    conns = [
        c
        for c in hub.connections.values()
        if c.closer is None and any(isinstance(s, KlineFeed) for s in c.subs.values())
    ]
    started = time.perf_counter()
    for conn in conns:
        conn.paused = True
    try:
        jobs = (_blast_one(hub, c, messages, variants, rate) for c in conns)
        sent = await asyncio.gather(*jobs)
    finally:
        for conn in conns:
            conn.paused = False
    return BlastReport(sum(sent), len(conns), time.perf_counter() - started)


def _templates(hub: WsHub, conn: Connection, variants: int) -> list[tuple[str, str, str]]:
    now = hub.clock.now_ms()
    out = []
    for sub in conn.subs.values():
        if not isinstance(sub, KlineFeed):
            continue
        topic = sub.topic
        units = topic.listing.model.units(topic.interval, topic.interval.index_of(now))
        span = units.end_ms - units.start_ms
        for k in range(1, variants + 1):
            state = units.provisional(units.start_ms + span * k // (variants + 1))
            text = frames.push(topic, state, _SEND, _MADE, now)
            head, rest = text.split(f'"ts":{_SEND},', 1)
            middle, tail = rest.split(f'"ts":{_MADE},', 1)
            out.append((head + '"ts":', "," + middle + '"ts":', "," + tail))
    return out


async def _blast_one(
    hub: WsHub, conn: Connection, messages: int, variants: int, rate: float | None
) -> int:
    templates = _templates(hub, conn, variants)
    send = conn.ws.send_str
    sent = 0
    started = time.perf_counter()
    for i in range(messages):
        if rate is not None:
            ahead = i / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        head, middle, tail = templates[i % len(templates)]
        ms = str(time.time_ns() // 1_000_000)
        try:
            await send(f"{head}{ms}{middle}{ms}{tail}")
        except ConnectionError:
            break
        sent += 1
    return sent
