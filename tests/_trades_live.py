"""Checking a live trades stream against the simulator's truth (``sim.trades``).

What the channel promises, as one check: trades arrive in exchange-time order; outside the
windows reported ``gap_unfillable`` they are exactly the exchange's (every trade, each once, the
exchange's digits), and inside such a window they are a part of the exchange's, never a trade
twice. The span checked runs from the first trade delivered to the last one's millisecond
(exclusive: more trades of that millisecond may still come).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal

import attrs

from host_stub.spec import Side, StatusEvent, StatusKind, StreamEvent, Trade, TradeEvent
from woox_datasource.simulator import WooXSimulator
from woox_datasource.simulator.trades import SimTrade

Key = tuple[object, ...]


def trades(events: Iterable[StreamEvent]) -> list[Trade]:
    return [e.trade for e in events if isinstance(e, TradeEvent)]


def n_trades(n: int) -> Callable[[list[StreamEvent]], bool]:
    return lambda events: len(trades(events)) >= n


def key(t: Trade) -> Key:
    """A trade with the exchange's exact digits (``"0.0405"`` is not ``"0.04050"`` here)."""
    return (t.symbol, t.time, t.price.as_tuple(), t.size.as_tuple(), t.side, t.external)


def sim_key(t: SimTrade) -> Key:
    side = Side.BUY if t.side == "BUY" else Side.SELL
    return (t.symbol, t.time, Decimal(t.price).as_tuple(), Decimal(t.size).as_tuple(), side,
            t.source == 0)  # fmt: skip


@attrs.frozen
class Window:
    start: int
    end: int
    count: int | None
    reason: str


def gaps(events: Iterable[StreamEvent]) -> list[Window]:
    """The ``gap_unfillable`` windows reported, in order."""
    return [
        Window(e.start, e.end, e.count, e.reason)
        for e in events
        if isinstance(e, StatusEvent) and e.kind is StatusKind.GAP_UNFILLABLE
        and e.start is not None and e.end is not None
    ]  # fmt: skip


def check_tape(sim: WooXSimulator, symbol: str, events: list[StreamEvent]) -> list[Window]:
    """Assert the promise (module docstring) over the span the events cover; returns the
    reported windows."""
    got = trades(events)
    assert got, "no trade at all"
    assert all(t.symbol == symbol for t in got)
    times = [t.time for t in got]
    assert times == sorted(times), "trades out of exchange-time order"
    start, end = got[0].time, got[-1].time
    windows = gaps(events)
    truth = [sim_key(t) for t in sim.trades(symbol, start, end)]

    def reported(ms: int) -> bool:
        return any(w.start <= ms < w.end for w in windows)

    have = Counter(key(t) for t in got if t.time < end)
    want = Counter(truth)
    extra = have - want
    assert not extra, f"trades not on the exchange's tape, or delivered twice: {list(extra)[:5]}"
    missing = [k for k in (want - have).elements() if not reported(k[1])]  # type: ignore[arg-type]
    assert not missing, (
        f"{len(missing)} trades lost outside any reported window, first {missing[:3]}; "
        f"windows {windows}"
    )
    return windows
