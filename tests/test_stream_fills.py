"""Gap fills at venue scale: one REST budget (10 requests/s per IP) shared by every fill, served
by priority, so the streams a consumer watches most closely heal first (the shortest interval,
then the oldest gap), and streams whose fill waits in the queue are told so."""

from __future__ import annotations

import asyncio
import statistics
import time

from _stream_sim import Recorder, assert_exact, finals, running, statuses, wait_until

from host_stub.spec import CandleEvent, StatusKind, StreamConfig
from woox_datasource.rest.budget import Priority, RateBudget, set_priority
from woox_datasource.timeframes import BY_WS_TYPE

# -- the budget's queue ---------------------------------------------------------------------


async def served_in_order(budget: RateBudget, asks: list[tuple[str, Priority | None]]) -> list[str]:
    """Names in the order ``budget`` granted them (all asking at once, window already full)."""
    order: list[str] = []

    async def ask(name: str, priority: Priority | None) -> None:
        await budget.acquire(priority)
        order.append(name)

    await asyncio.gather(*(ask(name, priority) for name, priority in asks))
    return order


async def test_waiters_are_served_by_priority_then_by_arrival() -> None:
    budget = RateBudget(max_requests=1, per_seconds=0.03, margin_s=0.0)
    await budget.acquire()  # the window is full: everyone below queues
    asks: list[tuple[str, Priority | None]] = [
        ("c1", (2.0,)), ("a1", (1.0,)), ("b", (1.0, 5.0)), ("a2", (1.0,)), ("c2", (2.0,)),
        ("host", None),  # no priority: a host's own call, somebody waits for it right now
    ]  # fmt: skip
    assert await served_in_order(budget, asks) == ["host", "a1", "a2", "b", "c1", "c2"]
    assert budget.granted == 7


async def test_a_tasks_priority_applies_to_its_requests_and_stays_in_the_task() -> None:
    budget = RateBudget(max_requests=1, per_seconds=0.03, margin_s=0.0)
    await budget.acquire()
    order: list[str] = []

    async def work(name: str, priority: Priority) -> None:
        set_priority(priority)
        await asyncio.sleep(0)
        await budget.acquire()
        order.append(name)

    await asyncio.gather(work("late", (9.0,)), work("soon", (1.0,)), work("mid", (5.0,)))
    assert order == ["soon", "mid", "late"]
    await budget.acquire()  # this test's own task never set one: it is not (9.0,)


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    budget = RateBudget(max_requests=1, per_seconds=0.05, margin_s=0.0)
    await budget.acquire()
    order: list[str] = []

    async def ask(name: str, priority: Priority) -> None:
        await budget.acquire(priority)
        order.append(name)

    first = asyncio.create_task(ask("first", (0.0,)))
    rest = [asyncio.create_task(ask(name, (float(i),))) for i, name in enumerate("abc", 1)]
    await asyncio.sleep(0.01)
    assert budget.queued_ahead((2.0,)) == 3  # first, a, b
    first.cancel()
    await asyncio.wait([first])
    async with asyncio.timeout(5):
        await asyncio.gather(*rest)
    assert order == ["a", "b", "c"]
    assert budget.queued_ahead((99.0,)) == 0


# -- fills at scale ----------------------------------------------------------------------------

INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}


async def test_after_a_venue_wide_gap_the_shortest_intervals_heal_first_and_waiters_are_told() -> (
    None
):
    """40 streams all miss two hours (the exchange dropped everything and the market went on):
    40 fills through 10 REST requests per second. After the first second's burst (whoever asked
    first), fills go out shortest interval first; a stream whose fill waits behind others is
    told (stale, with its place and an estimate) before its gap is filled."""
    async with running({"speed": 600.0, "rate_limit": 10}) as h:
        symbols = sorted(h.sim.symbols)
        wanted = [(s, label) for label in INTERVALS for s in symbols]
        assert len(wanted) == 40
        streams = [
            await h.manager.start(h.session, StreamConfig(s, INTERVALS[label]))
            for s, label in wanted
        ]
        recorders = [Recorder(s) for s in streams]

        def live(r: Recorder) -> bool:
            return any(isinstance(e, CandleEvent) for e in r.events)

        await wait_until(lambda: all(live(r) for r in recorders))  # a candle seen on each
        dropped = time.monotonic()
        h.sim.refuse_connections(0.2)  # (so that nobody is back before the market moved on)
        await h.sim.drop_connections()
        h.sim.clock.advance(2 * 3_600_000)

        def filled(r: Recorder) -> bool:
            return bool(statuses(r.events, StatusKind.GAP_FILLED))

        await wait_until(lambda: all(filled(r) for r in recorders), timeout=30)

        reads = [r for r in h.sim.requests if r.time > dropped and r.path.endswith("klineHistory")]
        order = [BY_WS_TYPE[r.query["type"].replace("mon", "M")].interval for r in reads]
        assert len(order) >= 40
        burst = h.rest_budget.max_requests  # granted at once, before the queue formed
        assert order[burst:] == sorted(order[burst:]), order

        healed = {label: [] for label in INTERVALS}  # type: dict[str, list[float]]
        for (_, label), r in zip(wanted, recorders, strict=True):
            [at] = [t for t, e in r.log if e in statuses(r.events, StatusKind.GAP_FILLED)]
            healed[label].append(at - dropped)
        medians = [statistics.median(healed[label]) for label in INTERVALS]
        assert medians == sorted(medians), healed

        told = 0
        for r in recorders:
            kinds = [e.kind for e in statuses(r.events)]
            queued = [e for e in statuses(r.events, StatusKind.STALE) if "queued" in e.reason]
            if queued:
                told += 1
                assert kinds.index(StatusKind.STALE) < kinds.index(StatusKind.GAP_FILLED)
                assert "queued for REST behind" in queued[0].reason
                assert "10 per 1 s" in queued[0].reason
        assert told >= 40 - 2 * burst
        for (_, label), r in zip(wanted, recorders, strict=True):
            await r.stream.aclose()
            assert_exact(h.sim, finals(r.events), label)
        await asyncio.gather(*(r.task for r in recorders))
