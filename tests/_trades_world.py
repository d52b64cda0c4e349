"""A true tape of trades and the sources that show parts of it, for testing :class:`TradeSync`
without sockets: sockets that deliver contiguous runs of the tape, REST pages cut by their row
limit (inside a millisecond, or never splitting one), and an oracle that compares what a sync
delivered with the tape.

The exchange's progress is a position in the tape (``pos`` trades have happened) and a clock that
never runs backwards and is always consistent with it: a reading taken at position ``pos`` lies
between the time of trade ``pos - 1`` and that of trade ``pos``. Everything drawn comes from a
hypothesis ``data`` object, so failures shrink and replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from host_stub.spec import Side, StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource.channels.trades_sync import Read, ReadKind, TradeSync

SYM = "PERP_BTC_USDT"
T0 = 1_700_000_000_000

KINDS = [
    (Decimal("100.50"), Decimal("0.010"), Side.BUY, False),
    (Decimal("100.50"), Decimal("0.010"), Side.SELL, False),
    (Decimal("100.25"), Decimal("0.500"), Side.BUY, True),
]
"""Few kinds of trade, so identical trades in one millisecond are common."""

MODES = ("inside", "whole", "absent", "ignored", "kept")
"""How ``marketTradesHistory`` answers: pages cut inside a millisecond, pages that never split
one, an error (the endpoint or its parameters do not exist), the newest page whatever the range,
pages cut inside a millisecond but an error for a start before the history it keeps."""


@st.composite
def tapes(draw: st.DrawFn, max_ms: int = 30, max_per_ms: int = 5) -> list[Trade]:
    """A tape: trades in time order, 1..max_per_ms per busy millisecond, quiet ms between."""
    out: list[Trade] = []
    time = T0
    for _ in range(draw(st.integers(1, max_ms))):
        time += draw(st.integers(1, 3))
        for kind in draw(st.lists(st.integers(0, len(KINDS) - 1), min_size=1,
                                  max_size=max_per_ms)):  # fmt: skip
            price, size, side, external = KINDS[kind]
            out.append(Trade(SYM, time, price, size, side, external))
    return out


def rest_spelling(trade: Trade) -> Trade:
    """The same trade as REST spells it (WOO X does not normalise digits across channels)."""
    return attrs.evolve(trade, price=trade.price.normalize(), size=trade.size.normalize())


class Failure(Exception):
    """A REST read failed for good."""


class World:
    """The exchange: the tape, how far it has got, its clock, and its REST answers."""

    def __init__(self, data: st.DataObject, tape: list[Trade], *, limit: int, mode: str,
                 failures: bool, strict_clock: bool) -> None:  # fmt: skip
        self.data = data
        self.tape = tape
        self.limit = limit
        self.mode = mode
        self.failures = failures
        self.strict_clock = strict_clock
        """Every REST reply comes at least a millisecond after the last clock reading."""
        self.pos = 0
        self.clock = tape[0].time - 5
        self.failed = 0
        self.newest_pages: list[list[Trade]] = []
        self.kept = data.draw(st.integers(tape[0].time, tape[-1].time + 1), label="kept")
        """In mode ``kept``: the earliest start the history serves."""

    @property
    def done(self) -> bool:
        return self.pos >= len(self.tape)

    def happen(self, n: int) -> None:
        self.pos = min(len(self.tape), self.pos + n)
        if self.pos:
            self.clock = max(self.clock, self.tape[self.pos - 1].time)

    def tick(self, at_least: int | None = None) -> int:
        """A clock reading now (at least ``at_least``: trades happen until it can be)."""
        low = self.clock if at_least is None else max(self.clock, at_least)
        while not self.done and self.tape[self.pos].time < low:
            self.happen(1)
        high = self.tape[self.pos].time if not self.done else low + 3
        self.clock = self.data.draw(st.integers(low, high), label="clock")
        return self.clock

    def serve(self, read: Read) -> tuple[list[Trade], int]:
        if self.failures and self.data.draw(st.booleans(), label="fails"):
            self.failed += 1
            raise Failure("HTTP 500")
        now = self.tick(self.clock + 1 if self.strict_clock else None)
        view = self.tape[: self.pos]
        if read.kind is ReadKind.NEWEST or self.mode == "ignored":
            rows = view[-read.limit :]
            if read.kind is ReadKind.NEWEST:
                self.newest_pages.append(rows)
        elif self.mode == "absent":
            self.failed += 1
            raise Failure("HTTP 400: unknown parameter startTime")
        elif self.mode == "kept" and read.start is not None and read.start < self.kept:
            raise Failure("HTTP 400 -1005: startTime before the trade history kept")
        else:
            assert read.start is not None and read.end is not None
            rows = [t for t in view if read.start <= t.time < read.end]
            if len(rows) > read.limit:
                cut = rows[read.limit].time
                rows = rows[: read.limit]
                if self.mode == "whole":  # a page ends before a ms that does not fit whole
                    whole = [t for t in rows if t.time < cut]
                    # (unless that is its first: then it holds that ms whole, over the limit)
                    rows = whole or [t for t in view if t.time == cut]
        newest_first = read.kind is ReadKind.NEWEST
        rows = [rest_spelling(t) for t in (reversed(rows) if newest_first else rows)]
        return rows, now


class Socket:
    """A subscription: from the position where it took effect it delivers the tape in order."""

    def __init__(self, world: World, name: Hashable, *, ack_time: bool) -> None:
        self.world = world
        self.name = name
        self.start = world.pos
        self.next = world.pos
        self.ack = world.tick() if ack_time else None

    @property
    def ready(self) -> int:
        return self.world.pos - self.next

    def pop(self) -> Trade:
        trade = self.world.tape[self.next]
        self.next += 1
        return trade


Event = TradeEvent | StatusEvent


def execute(world: World, sync: TradeSync, read: Read) -> list[Event]:
    try:
        rows, now = world.serve(read)
    except Failure as exc:
        return sync.on_read_failed(read, str(exc))
    return sync.on_read(read, rows, now)


def recover(data: st.DataObject, world: World, sync: TradeSync, socket: Socket,
            steps: int = 400) -> list[Event]:  # fmt: skip
    """Drive an outage (or backfill) to its end the way the integration will: the socket's
    pushes, the exchange moving on, and the reads the sync asks for, in any interleaving.
    With fewer ``steps`` it may stop half way (the socket drops again)."""
    out: list[Event] = []
    for _ in range(steps):
        if not sync.recovering:
            return out
        step = data.draw(st.sampled_from(["read", "read", "push", "happen"]), label="step")
        if step == "push" and socket.ready:
            out += sync.push(socket.pop(), socket.name)
        elif step == "happen":
            world.happen(data.draw(st.integers(1, 3), label="n"))
        elif (read := sync.next_read()) is not None:
            out += execute(world, sync, read)
        else:
            out += sync.conclude()
            if sync.recovering:  # the socket's start is not known yet: wait for a push
                if not socket.ready:
                    world.happen(1)
                if socket.ready:
                    out += sync.push(socket.pop(), socket.name)
                else:  # a quiet symbol: any frame the socket sends (a PONG) bounds it
                    out += sync.alive_at(socket.name, world.tick())
    if steps < 400:
        return out
    raise AssertionError("the outage never settled")


def drain(world: World, sync: TradeSync, socket: Socket) -> list[Event]:
    """The rest of the tape through the live socket."""
    world.happen(len(world.tape))
    out: list[Event] = []
    while socket.ready:
        out += sync.push(socket.pop(), socket.name)
    return out


@attrs.define
class Facts:
    """What the oracle needs to know about a run."""

    start: int
    """The stream holds every trade from this ms on."""
    partial: int | None = None
    """A first ms the stream holds only in part (it began with a socket's first push there)."""
    outage: int | None = None
    """Gaps may only lie at or after this ms (the frontier when the socket was lost)."""


def by_ms(trades: Iterable[Trade]) -> dict[int, Counter[Trade]]:
    out: dict[int, Counter[Trade]] = {}
    for t in trades:
        out.setdefault(t.time, Counter())[t] += 1
    return out


def gaps_of(events: list[Event]) -> list[StatusEvent]:
    return [e for e in events
            if isinstance(e, StatusEvent) and e.kind is StatusKind.GAP_UNFILLABLE]  # fmt: skip


def check_delivery(events: list[Event], tape: list[Trade], facts: Facts) -> None:
    """Delivered == tape from the stream's start, exactly (as multisets per ms, in time order),
    except inside reported gap windows, where it is a part of the tape (never a duplicate)."""
    trades = [e.trade for e in events if isinstance(e, TradeEvent)]
    times = [t.time for t in trades]
    assert times == sorted(times), "trades out of exchange-time order"
    gaps = gaps_of(events)
    for gap in gaps:
        assert gap.start is not None and gap.end is not None and gap.start < gap.end, gap
        if facts.outage is not None:
            assert gap.start >= facts.outage, f"gap {gap} before the outage ({facts.outage})"
    got, want = by_ms(trades), by_ms(tape)
    for ms in sorted(set(got) | set(want)):
        have, true = got.get(ms, Counter()), want.get(ms, Counter())
        if ms < facts.start and ms != facts.partial:
            assert not have, f"ms {ms} before the stream's start {facts.start} delivered"
            continue
        in_gap = any(g.start <= ms < g.end for g in gaps)  # type: ignore[operator]
        if in_gap or ms == facts.partial:
            assert not have - true, f"ms {ms}: delivered {have - true} beyond the truth"
        else:
            assert have == true, f"ms {ms}: delivered {dict(have)}, truth {dict(true)}"
