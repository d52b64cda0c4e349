"""Benchmark mode: valid pushes of every subscribed topic sent as fast as the sockets take them.

The frames are encoded once up front (a few provisional states of each subscribed kline topic's
forming candle; the next few real pushes of any other topic); only the send time is spliced in per
frame, so the measurement is of the client, not of the simulator's encoder."""

from __future__ import annotations

import asyncio
import time

import attrs

from . import frames
from .channels import open_feed
from .feeds import Feed, KlineFeed
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
    """Send ``messages`` pushes to every connection that has subscriptions, cycling over its
    topics: as fast as the socket takes them, or ``rate`` per second per connection. Regular
    pushes pause meanwhile (finals owed are sent afterwards, none lost) and faults do not apply.
    The envelope ``ts`` holds the wall-clock send time in ms (``time.time()``), so a client
    measures latency against its own wall clock; a kline's ``data.ts`` holds it too. Other topics
    repeat their next ``variants`` real pushes (a book topic's chain therefore breaks where the
    cycle starts again)."""
    if messages < 0 or variants < 1 or (rate is not None and not rate > 0):
        got = f"messages={messages}, variants={variants}, rate={rate}"
        raise ValueError(f"blast needs messages >= 0, variants >= 1 and rate > 0; got {got}")
    conns = [c for c in hub.connections.values() if c.closer is None and c.subs]
    started = time.perf_counter()
    for conn in conns:
        conn.paused = True
    try:
        templates = [await _templates(hub, c, variants) for c in conns]
        jobs = (_blast_one(c, t, messages, rate) for c, t in zip(conns, templates, strict=True))
        sent = await asyncio.gather(*jobs)
    finally:
        for conn in conns:
            conn.paused = False
    return BlastReport(sum(sent), len(conns), time.perf_counter() - started)


async def _templates(hub: WsHub, conn: Connection, variants: int) -> list[tuple[str, ...]]:
    """Each template's parts, to be joined with the send time: a kline's stamps two fields."""
    now = hub.clock.now_ms()
    out: list[tuple[str, ...]] = []
    for sub in list(conn.subs.values()):
        if not isinstance(sub, KlineFeed):
            out.extend(await _samples(hub, sub, now, variants))
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


_SAMPLE_STEP_MS = 1_000
_SAMPLE_STEPS = 3_600


async def _samples(hub: WsHub, feed: Feed, now: int, variants: int) -> list[tuple[str, ...]]:
    """The next ``variants`` pushes of ``feed``'s topic (from a fresh feed, so the connection's
    own stays where it is), each split around its envelope ``ts``."""
    symbol = feed.name.split("@")[1]
    if feed.name.startswith("ticker@"):
        await hub.warmer.ready([hub.models.day(symbol)], now // 1000 * 1000 + _SAMPLE_STEP_MS)
    fresh = open_feed(hub.models, hub.warmer.request, feed.name, now)
    texts: list[str] = []
    at = now
    for _ in range(_SAMPLE_STEPS):
        if fresh is None or len(texts) >= variants:
            break
        at += _SAMPLE_STEP_MS
        texts += fresh.pull(at)
        if feed.name.startswith("ticker@"):
            await hub.warmer.ready([hub.models.day(symbol)], at + _SAMPLE_STEP_MS)
    out: list[tuple[str, ...]] = []
    for text in texts[:variants]:
        head, rest = text.split(',"ts":', 1)
        out.append((head + ',"ts":', rest[rest.index(",") :]))
    return out


async def _blast_one(
    conn: Connection, templates: list[tuple[str, ...]], messages: int, rate: float | None
) -> int:
    send = conn.ws.send_str
    sent = 0
    started = time.perf_counter()
    for i in range(messages if templates else 0):
        if rate is not None:
            ahead = i / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        ms = str(time.time_ns() // 1_000_000)
        try:
            await send(ms.join(templates[i % len(templates)]))
        except ConnectionError:
            break
        sent += 1
    return sent
