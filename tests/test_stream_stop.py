"""Stopping is immediate in every state a stream can be in, by every way a host stops it.

States: connecting (handshake pending), backing off, subscribing (ack pending), filling a gap
(REST in flight, or retrying), rotating (the replacement's ack pending), and waiting on the
connection budget. Ways: ``stop_stream`` (``StreamManager.stop``), ``aclose`` (the plugin's and
the manager's), and cancelling the consumer's task (Ctrl-C: ``async with stream`` stops it on the
way out). Each test drives the stream into its state, observably, then stops it and checks that
the stop returned well under a second, the iteration ended, no task is left (``asyncio.all_tasks``
against a baseline taken before the stream started) and no socket is left (the servers' own
counts of open connections). The options are the defaults where they matter (ack and close
timeouts), so a stop that waits for any of them fails here.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from _stream_sim import (
    Harness,
    StallServer,
    collect,
    finals,
    n_finals,
    new_tasks,
    running,
    statuses,
    wait_until,
)

from host_stub.spec import StatusKind, StreamConfig, StreamEvent
from woox_datasource.simulator import WooXSimulator
from woox_datasource.stream import LiveStream

BTC = "SPOT_BTC_USDT"
STOP_WITHIN_S = 1.0
SLOW: dict[str, Any] = {"ack_timeout_s": 10.0, "close_timeout_s": 1.0, "connect_timeout_s": 10.0}
"""Today's defaults: a stop that waited for an ack, a close handshake or a connect would show."""


class Consumer:
    """The host's side: a task iterating the stream inside ``async with stream`` (as a host that
    stops its streams on the way out does), recording what it got."""

    def __init__(self, stream: LiveStream) -> None:
        self.stream = stream
        self.events: list[StreamEvent] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with self.stream:
            async for event in self.stream:
                self.events.append(event)

    def has(self, kind: StatusKind) -> bool:
        return bool(statuses(self.events, kind))


def received(h: Harness, cmd: str, connection: int | None = None) -> int:
    """Commands ``cmd`` the simulator received (on ``connection`` if given)."""
    return sum(
        1
        for r in h.sim.ws_received
        if isinstance(r.parsed, dict)
        and r.parsed.get("cmd") == cmd
        and (connection is None or r.connection_id == connection)
    )


def history_reads(h: Harness) -> int:
    return sum(1 for r in h.sim.requests if r.path.endswith("/klineHistory"))


# -- the states -----------------------------------------------------------------------------------


@asynccontextmanager
async def connecting() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """The handshake is pending: the server accepted TCP and never answers."""
    async with StallServer() as stall, running(ws_url=stall.ws_url, **SLOW) as h:
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: stall.open == 1)
        yield h, consumer, lambda: stall.open == 0


@asynccontextmanager
async def backing_off() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """The first attempt was refused; the next one is 10-20 s away."""
    async with running(backoff_initial_s=20.0, backoff_max_s=60.0, **SLOW) as h:
        h.sim.refuse_connections(60)
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: consumer.has(StatusKind.RECONNECTING))
        assert h.sim.connections_refused == 1
        yield h, consumer, lambda: h.sim.active_connections == 0


@asynccontextmanager
async def subscribing() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """Connected; the SUBSCRIBE's ack is lost (the exchange is silent), 10 s to the timeout."""
    async with running(silence_timeout_s=60.0, **SLOW) as h:
        h.sim.go_silent(60)
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: received(h, "SUBSCRIBE") == 1)
        assert h.sim.active_connections == 1
        yield h, consumer, lambda: h.sim.active_connections == 0


async def _into_a_gap(h: Harness) -> Consumer:
    consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
    await wait_until(lambda: bool(finals(consumer.events)))
    reads = history_reads(h)
    h.sim.refuse_connections(0.3)  # three market minutes missed
    await h.sim.drop_connections()
    await wait_until(lambda: history_reads(h) > reads)
    return consumer


@asynccontextmanager
async def filling_in_flight() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """Reconnected after missing candles; the gap fill's REST read is in flight for 30 s."""
    async with running(**SLOW) as h:
        h.sim.faults.latency_s = 30.0
        consumer = await _into_a_gap(h)
        assert h.manager.stats.fills == 0
        yield h, consumer, lambda: h.sim.active_connections == 0


@asynccontextmanager
async def filling_retrying() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """Reconnected after missing candles; REST keeps failing, the fill keeps retrying."""
    async with running(fill_deadline_s=60.0, **SLOW) as h:
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: consumer.has(StatusKind.CONNECTED))
        h.sim.faults.fail_next(10_000, 500)
        h.sim.refuse_connections(0.3)
        await h.sim.drop_connections()
        reads = history_reads(h)
        await wait_until(lambda: history_reads(h) >= reads + 3)
        assert h.manager.stats.fills == 0
        yield h, consumer, lambda: h.sim.active_connections == 0


@asynccontextmanager
async def rotating() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """Make-before-break: the replacement is open, its SUBSCRIBE's ack is lost."""
    async with running(
        max_connection_life_s=0.5, rotation_overlap_s=30.0, silence_timeout_s=60.0, **SLOW
    ) as h:
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: consumer.has(StatusKind.CONNECTED))
        h.sim.go_silent(60)
        await wait_until(lambda: received(h, "SUBSCRIBE", connection=2) == 1, timeout=3)
        assert h.manager.stats.rotations == 1
        assert h.sim.active_connections == 2
        yield h, consumer, lambda: h.sim.active_connections == 0


@asynccontextmanager
async def budget_wait() -> AsyncIterator[tuple[Harness, Consumer, Callable[[], bool]]]:
    """The connection was lost and the connection budget (1 per minute) is spent."""
    async with running(max_new_connections=1, connection_window_s=60.0, **SLOW) as h:
        consumer = Consumer(await h.manager.start(h.session, StreamConfig(BTC, 60)))
        await wait_until(lambda: consumer.has(StatusKind.CONNECTED))
        await h.sim.drop_connections()

        def told() -> bool:
            return any("budget exhausted" in s.reason for s in statuses(consumer.events))

        await wait_until(told)
        assert h.sim.connections_opened == 1
        yield h, consumer, lambda: h.sim.active_connections == 0


STATES = {
    "connecting": connecting,
    "backing_off": backing_off,
    "subscribing": subscribing,
    "filling_in_flight": filling_in_flight,
    "filling_retrying": filling_retrying,
    "rotating": rotating,
    "budget_wait": budget_wait,
}


# -- the ways to stop -----------------------------------------------------------------------------


async def by_stop_stream(h: Harness, consumer: Consumer) -> None:
    await h.manager.stop(consumer.stream.id)
    await asyncio.wait_for(consumer.task, STOP_WITHIN_S)


async def by_aclose(h: Harness, consumer: Consumer) -> None:
    await h.manager.aclose()
    await asyncio.wait_for(consumer.task, STOP_WITHIN_S)


async def by_cancelling_the_consumer(h: Harness, consumer: Consumer) -> None:
    consumer.task.cancel()
    await asyncio.wait([consumer.task])
    assert consumer.task.cancelled()


WAYS: dict[str, Callable[[Harness, Consumer], Awaitable[None]]] = {
    "stop_stream": by_stop_stream,
    "aclose": by_aclose,
    "ctrl_c": by_cancelling_the_consumer,
}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("state", STATES)
async def test_stop_is_immediate_and_leaves_nothing(state: str, way: str) -> None:
    baseline = set(asyncio.all_tasks())
    enter: Any = STATES[state]
    async with enter() as (h, consumer, sockets_closed):
        assert not consumer.task.done()
        started = time.monotonic()
        await WAYS[way](h, consumer)
        took = time.monotonic() - started
        assert took < STOP_WITHIN_S, f"stopping while {state} took {took:.2f} s"
        assert consumer.task.done()
        assert new_tasks(baseline) == []
        assert h.manager.streams == {}
        assert h.manager.connections == 0
        await wait_until(sockets_closed, timeout=2)  # the server's side sees the close
        assert [e async for e in consumer.stream] == []


async def test_stopping_one_of_two_streams_on_a_connection_does_not_wait_for_the_ack() -> None:
    """The connection stays (another stream uses it): its topic is unsubscribed in the
    background. The exchange is silent, so that ack would take ack_timeout_s (10 s)."""
    async with running(silence_timeout_s=60.0, **SLOW) as h:
        keep = await h.manager.start(h.session, StreamConfig("PERP_ETH_USDT", 60))
        leave = await h.manager.start(h.session, StreamConfig(BTC, 60))
        await collect(leave, n_finals(1))
        h.sim.go_silent(60)
        started = time.monotonic()
        await h.manager.stop(leave.id)
        assert time.monotonic() - started < STOP_WITHIN_S
        await wait_until(lambda: received(h, "UN_SUBSCRIBE") == 1)  # sent, never answered
        assert list(h.manager.streams) == [keep.id]
        assert h.sim.active_connections == 1


async def test_ctrl_c_on_woox_host_stream_while_backing_off_exits_at_once() -> None:
    """The real thing: ``woox-host stream`` in its own process, live, then the exchange drops
    it and refuses; SIGINT while the stream backs off ends the process within a second
    (it used to wait for ack and close timeouts, up to 11 s)."""
    async with WooXSimulator(speed=60.0) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "host_stub", "stream", BTC, "1m",
            "--simulator", sim.rest_url, "--format", "jsonl",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        err = bytearray()

        async def drain(pipe: asyncio.StreamReader, into: bytearray | None) -> None:
            while chunk := await pipe.read(65536):
                if into is not None:
                    into += chunk

        try:
            async with asyncio.timeout(30):
                assert await proc.stdout.readline()  # a candle: the stream is live
            drains = [
                asyncio.create_task(drain(proc.stdout, None)),
                asyncio.create_task(drain(proc.stderr, err)),
            ]
            sim.refuse_connections(60)
            await sim.drop_connections()
            await wait_until(lambda: sim.connections_refused >= 2)  # now backing off
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(10):
                await proc.wait()
            took = time.monotonic() - started
            await asyncio.gather(*drains)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert took < STOP_WITHIN_S, (took, err.decode()[-500:])
        assert proc.returncode == 130, err.decode()[-500:]
        assert b"Traceback" not in err
        assert sim.active_connections == 0
