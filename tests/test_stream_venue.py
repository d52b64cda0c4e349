"""The whole venue's reconnect discipline, scaled down so that the connection budget is the
bottleneck: fewer topics per connection (10) and a smaller budget, so that a handful of
connections stand for WOO X's 44, and seconds for its 5-minute window.

The three faults that broke a whole-venue process: the exchange refusing new connections and
then dropping every one (refuse-then-drop), two drops in quick succession (drop-then-drop), and
a refusal long enough that probing could eat the budget (long refusal). In each: every stream is
live again within seconds of the exchange accepting connections (or of the budget freeing, when
the arithmetic leaves no other way, and the streams are told so), every final is exact, the
budget is never exceeded, and stopping everything takes well under a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from _stream_sim import (
    AttemptLog,
    Harness,
    Recorder,
    assert_exact,
    finals,
    new_tasks,
    running,
    spacing,
    statuses,
    wait_until,
)

from host_stub.spec import CandleEvent, StatusKind, StreamConfig
from woox_datasource.simulator import WS_TYPES, MarketClock
from woox_datasource.timeframes import BY_WS_TYPE

pytestmark = pytest.mark.slow

PER_CONNECTION = 10
QUIET = {"SPOT_LUNA_USDT"}  # suspended: its candles can be empty for long stretches
THREE_DAYS_MS = 3 * 86_400_000


def between_3d_closes() -> int:
    """A market start in the middle of a 3d candle (12:00 UTC, a day and a half from either
    end), so that no 3d candle closes while these tests run, however slowly. WOO X serves no 3d
    history: a 3d closing push missed in an outage is unfillable by design (test_stream_faults
    shows it), which the "no gap_unfillable" check below would otherwise meet whenever an
    outage spanned 00:00 UTC of every third day (market time started at the local clock)."""
    now = time.time_ns() // 1_000_000
    return now - now % THREE_DAYS_MS - THREE_DAYS_MS // 2


def topics(h: Harness, count: int) -> list[tuple[str, str]]:
    """(symbol, WebSocket type) pairs, every type of a symbol before the next symbol."""
    pairs = [(s, t) for s in sorted(set(h.sim.symbols) - QUIET) for t in sorted(WS_TYPES)]
    assert len(pairs) >= count
    return pairs[:count]


@asynccontextmanager
async def venue(
    count: int, *, budget: int, window_s: float, **options: Any
) -> AsyncIterator[tuple[Harness, list[Recorder], AttemptLog, list[tuple[str, str]]]]:
    """``count`` streams on ``count / 10`` connections, all live; attempts logged from the
    first; on the way out, stopping everything must take under a second and leave nothing."""
    async with running(
        {"clock": MarketClock(between_3d_closes(), speed=60.0), "rate_limit": None},
        rest_rate=100,  # fills are not what these tests measure
        topics_per_connection=PER_CONNECTION,
        max_new_connections=budget,
        connection_window_s=window_s,
        backoff_initial_s=options.pop("backoff_initial_s", 0.25),
        backoff_max_s=options.pop("backoff_max_s", 2.0),
        **options,
    ) as h:
        baseline = set(asyncio.all_tasks())
        attempts = AttemptLog(h.sim)
        wanted = topics(h, count)
        streams = [
            await h.manager.start(h.session, StreamConfig(s, BY_WS_TYPE[t].interval))
            for s, t in wanted
        ]
        recorders = [Recorder(s) for s in streams]

        def live(r: Recorder) -> bool:
            return any(isinstance(e, CandleEvent) for e in r.events)

        await wait_until(lambda: all(live(r) for r in recorders), timeout=10)
        assert h.sim.active_connections == count // PER_CONNECTION
        yield h, recorders, attempts, wanted
        started = time.monotonic()
        await asyncio.gather(*(h.manager.stop(r.stream.id) for r in recorders))
        assert time.monotonic() - started < 1.0
        await asyncio.wait([r.task for r in recorders], timeout=1.0)
        await attempts.aclose()
        assert new_tasks(baseline) == []
        await wait_until(lambda: h.sim.active_connections == 0, timeout=2)
        assert attempts.most_in_any(window_s) <= budget  # never more than the budget
        for (_, ws_type), r in zip(wanted, recorders, strict=True):
            assert not statuses(r.events, StatusKind.GAP_UNFILLABLE)
            if finals(r.events):
                assert_exact(h.sim, finals(r.events), ws_type)


async def all_live_again(recorders: list[Recorder], since: float, within: float) -> list[float]:
    await wait_until(lambda: all(r.live_again_after(since) for r in recorders), timeout=within)
    return [r.live_again_after(since) or 0.0 for r in recorders]


async def test_refuse_then_drop() -> None:
    """The exchange refuses for 3 s and drops all 5 connections. One shared backoff: the
    exchange is probed one connection at a time (today's code: every slot retried on its own
    and spent the budget), and all come back, paced, once a probe gets through: the first
    within a backoff step (at most 2 s) of the exchange accepting, every stream soon after
    (generous: a loaded machine takes longer over the reconnects and the gap fills)."""
    async with venue(50, budget=20, window_s=60.0) as (h, recorders, attempts, _):
        lost = time.monotonic()
        h.sim.refuse_connections(3.0)
        await h.sim.drop_connections()
        accepting = lost + 3.0
        back = await all_live_again(recorders, lost, within=20)
        [(reopened, _), *_] = [span for span in attempts.opened if span[0] > lost]
        assert reopened - accepting < 2.0 + 1.0, reopened - accepting  # a backoff step
        assert max(back) - reopened < 5.0, max(back) - reopened  # proves not stuck
        refused = [span for span in attempts.refused if span[1] > lost]
        assert 2 <= len(refused) <= 6, refused  # not 5 slots x 6 attempts
        for failures, (_, most) in enumerate(spacing(refused), start=1):
            assert most >= 0.5 * min(2.0, 0.25 * 2 ** (failures - 1))  # one backoff for all
        assert h.manager.budget.used <= 5 + len(refused) + 5


async def test_drop_then_drop_within_the_budget_window() -> None:
    """Budget 12 per 10 s, 5 connections: the first drop's reconnects bring the count to 10,
    so after a second drop only 2 can come back at once. The other 3 wait for the budget
    (never exceeding it), their streams are told why and until when, and they come back as
    soon as it frees. (At WOO X's scale: 44 connections, 100 per 5 minutes; a process younger
    than 5 minutes cannot survive two full drops without waiting for its budget.)"""
    async with venue(50, budget=12, window_s=10.0) as (h, recorders, attempts, _):
        first_attempt = attempts.attempts[0][0]
        lost = time.monotonic()
        await h.sim.drop_connections()
        await all_live_again(recorders, lost, within=10)
        assert h.manager.budget.used == 10
        lost = time.monotonic()
        await h.sim.drop_connections()
        back = await all_live_again(recorders, lost, within=20)
        frees = first_attempt + 10.0 + 1.0  # (the budget's margin for arrival jitter)
        waited = [
            r
            for r in recorders
            if any("budget exhausted" in s.reason for s in statuses(r.events, StatusKind.STALE))
        ]
        assert len(waited) == 3 * PER_CONNECTION
        reason = statuses(waited[0].events, StatusKind.STALE)[-1].reason
        assert "12 new connections per 10 s" in reason and "turn comes in" in reason
        assert max(back) < frees + 3.0
        quick = [b for r, b in zip(recorders, back, strict=True) if r not in waited]
        assert max(quick) - lost < 2.0


async def test_a_long_refusal_never_spends_the_reserve() -> None:
    """Budget 10 per 14 s, 3 connections, 12 s of refusals. Probes may use what a full
    reconnect (3) does not need: after 4 failed attempts the budget holds exactly the reserve,
    probing pauses (the streams are told), resumes when the budget frees, and everything is
    live again within seconds of the exchange accepting.

    Here the budget frees about 3 s after the refusals end (the first connections leave the
    window, 14 s + the 1 s margin after they opened): the next attempt must go then, within a
    backoff step, and the streams be live soon after; time to live is measured from there,
    since the reconnect and the gap fills take longer on a loaded machine."""
    async with venue(30, budget=10, window_s=14.0, backoff_initial_s=0.2, backoff_max_s=1.0) as (
        h,
        recorders,
        attempts,
        _,
    ):
        lost = time.monotonic()
        h.sim.refuse_connections(12.0)
        await h.sim.drop_connections()
        accepting = lost + 12.0
        back = await all_live_again(recorders, lost, within=30)
        frees = attempts.attempts[0][1] + 14.0 + 1.0  # (an upper bound: seen after it went)
        allowed = max(accepting, frees)
        [(reopened, _), *_] = [span for span in attempts.opened if span[0] > lost]
        assert reopened - allowed < 1.0 + 2.0, reopened - allowed  # a backoff step, generous
        assert max(back) - allowed < 5.0, max(back) - allowed  # generous: proves not stuck
        for r in recorders:
            told = [s.reason for s in statuses(r.events, StatusKind.STALE)]
            assert any("in reserve" in why for why in told), told
        spans = attempts.attempts
        for lo, hi in attempts.refused:  # after every failed attempt, a full reconnect fits
            in_window = sum(1 for a_lo, _ in spans if hi - 14.0 < a_lo <= hi)
            assert in_window <= 10 - 3, (lo, spans)
