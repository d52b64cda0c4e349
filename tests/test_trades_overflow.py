"""A consumer slower than the tape: trades beyond the queue's capacity are dropped, never silently:
each loss is reported once, in place, with its exact bounds and count."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_stub.spec import Channel, Side, StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource.channels.trades_overflow import Event, OverflowGate

SYM = "PERP_ETH_USDT"


STEPS = ["trade", "trade", "read", "status"]


def event(ms: int) -> TradeEvent:
    return TradeEvent(Trade(SYM, ms, Decimal("3000.1"), Decimal("0.5"), Side.SELL))


def test_loss_is_reported_once_with_bounds_and_count_when_the_consumer_catches_up() -> None:
    gate = OverflowGate(SYM, capacity=4)  # resumes below 2 waiting
    assert gate.trade(event(100), waiting=3) == [event(100)]
    assert gate.trade(event(101), waiting=4) == []  # full: dropped, counted
    assert gate.trade(event(101), waiting=3) == []  # still above the low-water mark
    assert gate.trade(event(105), waiting=2) == []
    assert gate.dropped == 3
    report, resumed = gate.trade(event(106), waiting=1)
    assert resumed == event(106)
    assert isinstance(report, StatusEvent)
    assert (report.kind, report.start, report.end, report.count) == (
        StatusKind.GAP_UNFILLABLE, 101, 106, 3)  # fmt: skip
    assert report.channel is Channel.TRADES and "consumer too slow" in report.reason
    assert gate.trade(event(107), waiting=2) == [event(107)]


def test_a_status_flushes_the_loss_counted_before_it() -> None:
    gate = OverflowGate(SYM, capacity=1)
    gate.trade(event(100), waiting=1)
    status = StatusEvent(StatusKind.RECONNECTING, SYM, channel=Channel.TRADES)
    report, same = gate.status(status)
    assert same is status and isinstance(report, StatusEvent) and report.count == 1
    assert gate.status(status) == [status]
    assert gate.dropping  # still past capacity: the next trade is dropped too
    assert gate.trade(event(101), waiting=1) == []


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        OverflowGate(SYM, capacity=0)
    with pytest.raises(ValueError, match="low_water"):
        OverflowGate(SYM, capacity=4, low_water=5)


@given(
    capacity=st.integers(1, 6),
    steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 3)), max_size=200),
)
def test_every_trade_is_delivered_or_counted_in_a_report_that_bounds_it(
    capacity: int, steps: list[tuple[str, int]]
) -> None:
    gate = OverflowGate(SYM, capacity)
    queue: deque[Event] = deque()
    seen: list[Event] = []
    offered: list[TradeEvent] = []
    dropped: list[TradeEvent] = []
    ms = 1000
    for step, n in steps:
        if step == "trade":
            ms += n
            offered.append(event(ms))
            got = gate.trade(offered[-1], len(queue))
            if not got:
                dropped.append(offered[-1])
            queue.extend(got)
        elif step == "status":
            queue.extend(gate.status(StatusEvent(StatusKind.CONNECTED, SYM)))
        else:
            for _ in range(min(n, len(queue))):
                seen.append(queue.popleft())
        assert sum(isinstance(e, TradeEvent) for e in queue) <= capacity
    seen.extend(queue)
    if (last := gate.report()) is not None:
        seen.append(last)
    delivered = [e for e in seen if isinstance(e, TradeEvent)]
    reports = [e for e in seen if isinstance(e, StatusEvent)
               and e.kind is StatusKind.GAP_UNFILLABLE]  # fmt: skip
    assert len(delivered) + sum(r.count or 0 for r in reports) == len(offered)
    for report in reports:  # each report covers exactly the trades dropped since the last one
        assert report.count is not None and report.start is not None and report.end is not None
        batch, dropped = dropped[: report.count], dropped[report.count :]
        assert report.start == batch[0].trade.time and report.end == batch[-1].trade.time + 1
    assert not dropped
    times = [e.trade.time for e in delivered]
    assert times == sorted(times)
