"""The per-stream queue: conflation of provisional updates, finals never dropped, a hard bound,
and cancellation that loses nothing; plus the reconnect pacing rules (backoff, budget, options)."""

from __future__ import annotations

import asyncio
import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_stub.spec import (
    OHLCV,
    CandleEvent,
    InvalidRequest,
    StatusEvent,
    StatusKind,
    StreamEvent,
)
from woox_datasource.channels.candle_stream import CandleQueue as EventQueue
from woox_datasource.stream.options import Backoff, ConnectionBudget, StreamOptions

STEP = 60_000


def ev(i: int, close: int, final: bool) -> CandleEvent:
    d = Decimal(close)
    c = OHLCV("PERP_ETH_USDT", 60, i * STEP, (i + 1) * STEP, d, d, d, d, Decimal(1), d)
    return CandleEvent(c, final)


def status() -> StatusEvent:
    return StatusEvent(StatusKind.CONNECTED, "PERP_ETH_USDT", 60)


def drain(q: EventQueue) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    while (e := q.get_nowait()) is not None:
        out.append(e)
    return out


def test_provisional_updates_conflate_in_place() -> None:
    q = EventQueue(10)
    q.push_provisional(ev(0, 1, False))
    q.push(status())
    q.push_provisional(ev(0, 2, False))
    q.push_provisional(ev(0, 3, False))
    assert len(q) == 2
    assert q.conflated == 2
    assert drain(q) == [ev(0, 3, False), status()]
    q.push_provisional(ev(0, 4, False))  # taken by the consumer: a new one queues afresh
    assert drain(q) == [ev(0, 4, False)]


def test_final_supersedes_the_waiting_provisional_of_its_candle() -> None:
    q = EventQueue(10)
    q.push_provisional(ev(0, 1, False))
    assert q.push(ev(0, 2, True))
    q.push_provisional(ev(1, 5, False))
    assert len(q) == 2
    assert drain(q) == [ev(0, 2, True), ev(1, 5, False)]


def test_full_queue_refuses_finals_instead_of_growing() -> None:
    q = EventQueue(3)
    assert all(q.push(ev(i, 1, True)) for i in range(3))
    assert not q.push(ev(3, 1, True))
    q.push_provisional(ev(4, 1, False))  # provisional state still conflates in
    q.push_force(status())
    assert len(q) == 5
    assert drain(q) == [*(ev(i, 1, True) for i in range(3)), ev(4, 1, False), status()]


async def test_cancelled_get_loses_nothing_and_close_wakes_the_consumer() -> None:
    q = EventQueue(5)
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    q.push(ev(0, 1, True))
    assert await q.get() == ev(0, 1, True)
    waiting = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.push(ev(1, 1, True))
    q.close(discard=False)
    assert await waiting == ev(1, 1, True)
    assert await q.get() is None
    q.push(ev(2, 1, True))  # after close: ignored
    assert await q.get() is None


async def test_close_with_discard_ends_at_once_and_wait_below_returns() -> None:
    q = EventQueue(2)
    q.push(ev(0, 1, True))
    q.push(ev(1, 1, True))
    waiter = asyncio.create_task(q.wait_below(1))
    getter_done = asyncio.Event()

    async def consume() -> None:
        assert await q.get() == ev(0, 1, True)
        getter_done.set()

    await consume()
    await asyncio.sleep(0)
    assert not waiter.done()
    q.close(discard=True)
    await asyncio.wait_for(waiter, 1)
    assert await q.get() is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 9)), max_size=60),
       st.integers(1, 8))  # fmt: skip
def test_consumer_view_matches_the_conflation_model(
    ops: list[tuple[int, bool, int]], capacity: int
) -> None:
    """Whatever the interleaving: finals come in push order, none after refusal is lost
    silently (push says False), no provisional follows its candle's final, and a provisional
    shows the newest state pushed for it so far."""
    q = EventQueue(capacity)
    accepted_finals: list[CandleEvent] = []
    finals_done: set[int] = set()
    latest: dict[int, int] = {}
    seen: list[CandleEvent] = []

    def take(e: StreamEvent) -> None:
        assert isinstance(e, CandleEvent)
        if not e.final:  # the newest state pushed so far, and never after its final
            assert e.candle.close == latest[e.candle.open_time]
            assert e.candle.open_time not in {x.candle.open_time for x in seen if x.final}
        seen.append(e)

    for candle, final, close in ops:
        if close == 9:  # the consumer takes one
            taken = q.get_nowait()
            if taken is not None:
                take(taken)
            continue
        if final:
            e = ev(candle, close, True)
            if q.push(e):
                accepted_finals.append(e)
                finals_done.add(candle)
        elif candle not in finals_done:
            q.push_provisional(ev(candle, close, False))
            latest[candle * STEP] = close
        assert len(q) <= capacity + 4  # provisionals: at most one per candle on top
    for rest in drain(q):
        take(rest)
    assert [e for e in seen if e.final] == accepted_finals


def test_options_refuse_silence_shorter_than_pings() -> None:
    with pytest.raises(InvalidRequest, match="silence_timeout_s"):
        StreamOptions(ping_interval_s=10, silence_timeout_s=5)
    with pytest.raises(InvalidRequest, match="queue_capacity"):
        StreamOptions(queue_capacity=0)


def test_backoff_first_retry_immediate_then_capped_jittered_exponential() -> None:
    b = Backoff(StreamOptions(backoff_initial_s=0.5, backoff_max_s=4), random.Random(1))
    assert b.delay(0) == 0
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (60, 4.0)]:
        delays = {b.delay(attempt) for _ in range(20)}
        assert all(base / 2 <= d <= base for d in delays)
        assert len(delays) > 1  # jittered


def test_connection_budget_counts_a_sliding_window() -> None:
    now = [0.0]
    budget = ConnectionBudget(limit=3, window_s=9.5, clock=lambda: now[0], margin_s=0.5)
    assert budget.wait_s() == 0.0
    for at in (0.0, 1.0, 2.0):
        now[0] = at
        budget.take()
    assert budget.used == 3
    assert budget.wait_s() == 8.0  # the first attempt (at 0) leaves the window at 10
    assert budget.wait_s(2) == 9.0
    assert budget.wait_s(4) == math.inf  # more than the whole budget
    now[0] = 10.0
    assert budget.used == 2
    assert budget.wait_s() == 0.0
    assert budget.wait_s(2) == 1.0
