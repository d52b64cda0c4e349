"""The trades channel against a true tape: across drops, rotations and backfills, with REST pages
cut inside milliseconds (or never splitting one), failing, or not taking a time range at all,
what :class:`TradeSync` delivers equals the tape exactly (identical trades in one millisecond
included) except inside reported ``gap_unfillable`` windows, which appear only where REST really
could not cover. Two planted bugs (de-duplication as a set instead of a multiset, and a bound
that claims a cut millisecond covered) must make these properties fail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import pytest
from _trades_world import (
    MODES,
    SYM,
    Event,
    Facts,
    Socket,
    World,
    check_delivery,
    drain,
    gaps_of,
    recover,
    tapes,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from host_stub.spec import StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource.channels import trades_cover, trades_reads, trades_sync
from woox_datasource.channels.trades_cover import Coverage
from woox_datasource.channels.trades_sync import TradeSync

SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=SLOW_DATA)


def world_for(data: st.DataObject) -> World:
    tape = data.draw(tapes(), label="tape")
    return World(
        data,
        tape,
        limit=data.draw(st.integers(1, 6), label="limit"),
        mode=data.draw(st.sampled_from(MODES), label="mode"),
        failures=data.draw(st.booleans(), label="failures"),
        strict_clock=data.draw(st.booleans(), label="strict"),
    )


def pushes(data: st.DataObject, world: World, sync: TradeSync, *sockets: Socket) -> list[Event]:
    """The exchange moves on and the sockets push, in any interleaving."""
    out: list[Event] = []
    for _ in range(data.draw(st.integers(0, 2 * len(world.tape)), label="steps")):
        if data.draw(st.booleans(), label="happen"):
            world.happen(data.draw(st.integers(1, 2), label="n"))
        socket = data.draw(st.sampled_from(sockets), label="socket")
        if socket.ready:
            out += sync.push(socket.pop(), socket.name)
    return out


def start_facts(*sockets: Socket) -> Facts:
    """Where a fresh stream begins: right after its first ack, else with its first push (that
    millisecond held only in part), else likewise on the next socket."""
    for socket in sockets:
        if socket.ack is not None:
            return Facts(socket.ack + 1)
        if socket.next > socket.start:
            ms = socket.world.tape[socket.start].time
            return Facts(ms + 1, partial=ms)
    return Facts(2**62)


def could_cover(world: World, mode: str | None = None) -> bool:
    """Whether REST could always prove the outage: ranged history that works, no failures, no
    millisecond with as many trades as a page (a full page may have cut it), replies coming
    after the ack they follow."""
    biggest = max(Counter(t.time for t in world.tape).values())
    modes = ("inside", "whole") if mode is None else (mode,)
    return (world.mode in modes and not world.failures and world.strict_clock
            and biggest < world.limit)  # fmt: skip


def check_necessity(events: list[Event], world: World, sync: TradeSync) -> None:
    """Gaps only where REST really could not cover."""
    gaps = gaps_of(events)
    if sync.stats.shed:
        return
    if could_cover(world):
        assert not gaps, f"gap reported though REST could cover it: {gaps}"
    elif could_cover(world, "kept"):  # history found where it begins, and reads on from there
        for gap in gaps:
            assert gap.end is not None and gap.end <= world.kept, (
                f"gap {gap} beyond the history kept (from {world.kept})"
            )
    elif not world.failures and world.strict_clock and world.mode in ("absent", "ignored"):
        # Only the newest page can prove anything: a gap may reach up to where the fullest
        # newest page's proof begins (after its oldest, possibly cut millisecond), no further.
        reach = [page[0].time + 1 for page in world.newest_pages if len(page) >= world.limit]
        for gap in gaps:
            assert reach and gap.end is not None and gap.end <= max(reach), (
                f"gap {gap} beyond what the newest pages left unproven ({reach})"
            )


def run_reconnect(data: st.DataObject) -> None:
    world = world_for(data)
    sync = TradeSync(SYM, page_limit=world.limit)
    world.happen(data.draw(st.integers(0, len(world.tape) // 3), label="before"))
    first = Socket(world, 1, ack_time=data.draw(st.booleans(), label="ack1"))
    events = sync.subscribed(1, first.ack)
    events += pushes(data, world, sync, first)
    outage = sync.frontier
    events += sync.lost(1)
    world.happen(data.draw(st.integers(0, len(world.tape) // 2), label="outage"))
    second = Socket(world, 2, ack_time=data.draw(st.booleans(), label="ack2"))
    events += sync.subscribed(2, second.ack)
    events += recover(data, world, sync, second)
    events += drain(world, sync, second)
    facts = start_facts(first, second)
    facts.outage = outage
    check_delivery(events, world.tape, facts)
    check_necessity(events, world, sync)
    assert sync.remembered <= max(Counter(t.time for t in world.tape).values())


def run_rotation(data: st.DataObject) -> None:
    world = world_for(data)
    sync = TradeSync(SYM, page_limit=world.limit)
    world.happen(data.draw(st.integers(0, len(world.tape) // 3), label="before"))
    old = Socket(world, "old", ack_time=data.draw(st.booleans(), label="ack1"))
    events = sync.subscribed("old", old.ack)
    events += pushes(data, world, sync, old)
    world.happen(data.draw(st.integers(0, 3), label="gap"))
    new = Socket(world, "new", ack_time=data.draw(st.booleans(), label="ack2"))
    events += sync.subscribed("new", new.ack)
    events += pushes(data, world, sync, old, new)
    switched = sync.authority == "new"
    outage = sync.frontier
    events += sync.lost("old")  # the overlap is over (handed over, or ran out)
    if switched:
        assert not sync.recovering and not world.newest_pages, "a rotation overlap needed REST"
    events += recover(data, world, sync, new)
    events += drain(world, sync, new)
    facts = start_facts(old, new)
    facts.outage = outage
    check_delivery(events, world.tape, facts)
    check_necessity(events, world, sync)


def run_backfill(data: st.DataObject) -> None:
    world = world_for(data)
    tape = world.tape
    world.happen(data.draw(st.integers(0, len(tape)), label="before"))
    start = data.draw(st.integers(tape[0].time - 2, tape[-1].time + 2), label="backfill_from")
    sync = TradeSync(SYM, backfill_from=start, page_limit=world.limit)
    socket = Socket(world, 1, ack_time=data.draw(st.booleans(), label="ack"))
    events = sync.subscribed(1, socket.ack)
    events += recover(data, world, sync, socket)
    events += drain(world, sync, socket)
    check_delivery(events, tape, Facts(start, outage=start))
    check_necessity(events, world, sync)
    done = [i for i, e in enumerate(events)
            if isinstance(e, StatusEvent) and e.kind is StatusKind.BACKFILLED]  # fmt: skip
    assert len(done) == 1, "one backfilled status"
    status = events[done[0]]
    assert isinstance(status, StatusEvent) and status.start == start
    assert status.count == sum(isinstance(e, TradeEvent) for e in events[: done[0]])


def run_storm(data: st.DataObject) -> None:
    """Drop after drop, some while the last outage is still being read."""
    world = world_for(data)
    sync = TradeSync(SYM, page_limit=world.limit)
    world.happen(data.draw(st.integers(0, len(world.tape) // 3), label="before"))
    sockets = [Socket(world, 0, ack_time=data.draw(st.booleans(), label="ack"))]
    events = sync.subscribed(0, sockets[0].ack)
    outage: int | None = None
    for name in range(1, data.draw(st.integers(2, 5), label="sockets")):
        socket = sockets[-1]
        events += pushes(data, world, sync, socket)
        if sync.recovering:
            events += recover(data, world, sync, socket, data.draw(st.integers(0, 6)))
        if outage is None and sync.authority == socket.name:
            outage = sync.frontier
        events += sync.lost(socket.name)
        world.happen(data.draw(st.integers(0, 4), label="outage"))
        sockets.append(Socket(world, name, ack_time=data.draw(st.booleans(), label="ack")))
        events += sync.subscribed(name, sockets[-1].ack)
    events += recover(data, world, sync, sockets[-1])
    events += drain(world, sync, sockets[-1])
    facts = start_facts(*sockets)
    facts.outage = outage
    check_delivery(events, world.tape, facts)
    check_necessity(events, world, sync)


RUNS: dict[str, Callable[[st.DataObject], None]] = {
    "storm": run_storm,
    "reconnect": run_reconnect,
    "rotation": run_rotation,
    "backfill": run_backfill,
}


@FAST
@given(st.data())
def test_reconnect_delivers_the_tape(data: st.DataObject) -> None:
    run_reconnect(data)


@FAST
@given(st.data())
def test_rotation_delivers_the_tape(data: st.DataObject) -> None:
    run_rotation(data)


@FAST
@given(st.data())
def test_backfill_joins_live_at_an_exact_seam(data: st.DataObject) -> None:
    run_backfill(data)


@FAST
@given(st.data())
def test_drop_after_drop_delivers_the_tape(data: st.DataObject) -> None:
    run_storm(data)


# ---- planted bugs: the properties above must catch them ----------------------------------------


def catches(run: Callable[[st.DataObject], None]) -> None:
    @settings(max_examples=600, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def property_holds(data: st.DataObject) -> None:
        run(data)

    with pytest.raises(AssertionError, match=r"delivered|gap"):
        property_holds()


def set_excess(trades: Iterable[Trade], already: Iterable[Trade]) -> list[Trade]:
    """The bug: de-duplicating as sets (an identical second trade in one ms is lost)."""
    seen = set(already)
    out = []
    for trade in trades:
        if trade not in seen:
            seen.add(trade)
            out.append(trade)
    return out


def cut_claimed(trades: Iterable[Trade], *, limit: int, now: int | None) -> Coverage:
    """The bug: a full newest page claimed to hold its oldest millisecond, which it may cut."""
    cover = trades_cover.newest_coverage(trades, limit=limit, now=now)
    if cover.trades and len(cover.trades) >= limit:
        return Coverage(cover.trades, cover.trades[0].time, cover.end, cover.what)
    return cover


def range_cut_claimed(trades: Iterable[Trade], *, start: int, end: int, limit: int,
                      now: int | None) -> Coverage:  # fmt: skip
    """The bug: a full history page claimed to hold its newest millisecond, which it may cut."""
    cover = trades_cover.range_coverage(trades, start=start, end=end, limit=limit, now=now)
    if len(cover.trades) >= limit and cover.trades[0].time < cover.trades[-1].time:
        return Coverage(cover.trades, start, cover.trades[-1].time + 1, cover.what)
    return cover


@pytest.mark.parametrize("kind", ["reconnect", "rotation"])
def test_planted_set_dedup_is_caught(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setattr(trades_sync, "excess", set_excess)
    catches(RUNS[kind])


@pytest.mark.parametrize("kind", ["reconnect", "backfill"])
def test_planted_cut_millisecond_claim_is_caught(monkeypatch: pytest.MonkeyPatch,
                                                 kind: str) -> None:  # fmt: skip
    monkeypatch.setattr(trades_reads, "newest_coverage", cut_claimed)
    catches(RUNS[kind])


def test_planted_history_cut_claim_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trades_reads, "range_coverage", range_cut_claimed)
    catches(run_reconnect)
