"""The trades channel's REST side against the simulator over loopback: the reads TradeSync asks
for, spelled and parsed by the wire package, answered by the simulator's own encoder, recover an
outage longer than a ``marketTrades`` page exactly (ground truth: ``sim.trades``), and a history
that does not reach back far enough costs only what it lacks."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from _trades_world import Event, Facts, check_delivery, gaps_of

from host_stub.spec import DatasourceError, Side, StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource import wire
from woox_datasource.channels.trades_reads import PROBES
from woox_datasource.channels.trades_sync import Read, ReadKind, TradeSync
from woox_datasource.simulator import MarketClock, WooXSimulator
from woox_datasource.simulator.restdata import DEFAULT_HISTORY_PAGE

NOW = 1_764_000_000_000 + 23_456
SYM = "PERP_BTC_USDT"  # about two trades a second: a 500-row page holds some four minutes
MINUTE = 60_000


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def frozen(trade_history_ms: int = 86_400_000) -> WooXSimulator:
    """Market time stands still, so the truth cannot move while the test reads it."""
    return WooXSimulator(clock=MarketClock(NOW, speed=0), rate_limit=None,
                         trade_history_ms=trade_history_ms)  # fmt: skip


def truth(sim: WooXSimulator, start: int, end: int) -> list[Trade]:
    return [Trade(t.symbol, t.time, Decimal(t.price), Decimal(t.size),
                  Side.BUY if t.side == "BUY" else Side.SELL, t.source == 0)
            for t in sim.trades(SYM, start, end)]  # fmt: skip


async def answer(session: aiohttp.ClientSession, sim: WooXSimulator, sync: TradeSync,
                 read: Read) -> list[Event]:  # fmt: skip
    if read.kind is ReadKind.NEWEST:
        path, query = wire.MARKET_TRADES_PATH, wire.market_trades_query(SYM, limit=read.limit)
    else:
        path = wire.MARKET_TRADES_HISTORY_PATH
        query = wire.market_trades_history_query(SYM, start=read.start, end=read.end,
                                                 limit=read.limit)  # fmt: skip
    async with session.get(sim.rest_url + path, params=query) as resp:
        body = await resp.read()
        status = resp.status
    try:
        reply = wire.parse_reply(status, body)
    except DatasourceError as exc:
        return sync.on_read_failed(read, str(exc))
    rows = wire.parse_market_trades(reply.data, SYM)
    PAGES.setdefault(read.kind, []).append(len(rows))
    return sync.on_read(read, rows, reply.timestamp)


PAGES: dict[ReadKind, list[int]] = {}
"""Rows per reply, by kind of read (cleared by each test)."""


async def outage(session: aiohttp.ClientSession, sim: WooXSimulator, sync: TradeSync,
                 tape: list[Trade], dropped_at: int) -> tuple[list[Event], int, int]:  # fmt: skip
    """A socket delivers ``tape[:dropped_at]`` and drops; the next one, acked half a minute
    before now, pushes what followed; REST is read as the sync asks. Returns the events, the
    frontier when the drop happened, and the number of reads."""
    events = sync.subscribed("s1", tape[0].time - 1)
    for t in tape[:dropped_at]:
        events += sync.push(t, "s1")
    frontier = sync.frontier
    assert frontier is not None
    events += sync.lost("s1")
    ack = NOW - MINUTE // 2
    events += sync.subscribed("s2", ack)
    for t in tape:
        if t.time > ack:
            events += sync.push(t, "s2")
    reads = 0
    while (read := sync.next_read()) is not None:
        reads += 1
        events += await answer(session, sim, sync, read)
    events += sync.conclude()
    assert not sync.recovering
    return events, frontier, reads


def split_inside_a_millisecond(tape: list[Trade], before: int) -> int:
    """Where to drop the first socket: between two trades of one millisecond if the tape has
    such a pair before ``before``, else at ``before``."""
    seen = Counter(t.time for t in tape[:before])
    ms = next((ms for ms, n in seen.items() if n > 1), None)
    return before if ms is None else next(i for i, t in enumerate(tape) if t.time == ms) + 1


async def test_an_outage_longer_than_a_page_is_read_back_exactly(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen() as sim:
        tape = truth(sim, NOW - 20 * MINUTE, NOW + 1)
        cut = split_inside_a_millisecond(tape, len(tape) // 4)
        sync = TradeSync(SYM)
        PAGES.clear()
        events, frontier, reads = await outage(session, sim, sync, tape, cut)
    check_delivery(events, tape, Facts(tape[0].time))
    # the page size got through (the simulator's default page is 100 rows): wire and simulator
    # agree on its name
    assert max(PAGES[ReadKind.RANGE]) > DEFAULT_HISTORY_PAGE
    assert sum(t.time >= frontier for t in tape) > sync.page_limit  # more than one page holds
    assert not gaps_of(events)
    filled = [e for e in events if isinstance(e, StatusEvent) and e.kind is StatusKind.GAP_FILLED]
    assert [(e.start, e.end) for e in filled] == [(frontier, filled[0].end)]
    after = events.index(filled[0])
    assert filled[0].count == sum(isinstance(e, TradeEvent) for e in events[cut:after])
    assert reads >= 3  # the newest page and history pages


async def test_history_kept_short_costs_only_what_it_lacks(
    session: aiohttp.ClientSession,
) -> None:
    kept = 6 * MINUTE
    async with frozen(trade_history_ms=kept) as sim:
        tape = truth(sim, NOW - 20 * MINUTE, NOW + 1)
        sync = TradeSync(SYM)
        events, frontier, _ = await outage(session, sim, sync, tape, len(tape) // 4)
    earliest = NOW - kept  # the simulator refuses a startTime before it
    check_delivery(events, tape, Facts(tape[0].time))
    [gap] = gaps_of(events)
    step = (NOW - frontier) >> (PROBES - 1)  # the bisection's last step
    assert gap.start == frontier and gap.end is not None
    assert earliest <= gap.end <= earliest + max(1, step)
    assert "serves trades from" in gap.reason
    delivered = Counter(e.trade for e in events if isinstance(e, TradeEvent))
    assert all(delivered[t] for t in tape if t.time >= gap.end)  # everything REST keeps
