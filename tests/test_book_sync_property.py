"""The book sync against a naive model of WOO X, over random histories with faults injected.

Every property runs the harness of ``_book_truth``: after every book event the consumer's
``OrderBook`` equals the exchange's top-``depth`` book as of the event's time, a lost delta is
never bridged, ``stale`` is reported while snapshots miss, and the book ends synced and current.
The planted bugs at the end prove these tests catch what ccxt does: a book that skips the
``prevTs`` check, or that keeps a REST seed deeper than its depth, fails them.
"""

from __future__ import annotations

from typing import Any

import pytest
from _book_truth import (
    ASK_PRICES,
    BID_PRICES,
    Audit,
    Change,
    Deliver,
    Op,
    Reconnect,
    Rest,
    Script,
    SeedsDeep,
    SkipsPrevTs,
    Step,
    run,
    violation,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from woox_datasource.channels.book_sync import BookSync, BookSyncOptions, Edges

SYM = "PERP_BTC_USDT"


@st.composite
def changes(draw: st.DrawFn) -> Change:
    bid = draw(st.booleans())
    index = draw(st.sampled_from(BID_PRICES if bid else ASK_PRICES))
    size = draw(st.sampled_from([0, 0, 0]) | st.integers(1, 5000))
    return bid, index, size


STEPS = st.builds(Step, st.integers(1, 4), st.lists(changes(), min_size=1, max_size=3).map(tuple))
FAULTY_DELIVERY = st.sampled_from(["", "", "", "", "", "lose", "dup", "swap"]).map(Deliver)
FAULTY_REST = st.one_of(
    st.builds(Rest, deep=st.booleans()),
    st.builds(Rest, st.just("lag"), st.integers(1, 6), st.booleans()),
    st.just(Rest("fail")),
    st.builds(Rest, st.just("span"), st.integers(0, 3), st.booleans()),
)
RECONNECTS = st.builds(Reconnect, st.lists(STEPS, max_size=2).map(tuple))


@st.composite
def scripts(draw: st.DrawFn, *, faults: bool = True, explicit: bool | None = None) -> Script:
    depth = draw(st.sampled_from([1, 2, 3, 5]))
    explicit_edges = draw(st.booleans()) if explicit is None else explicit
    initial = draw(st.lists(changes(), min_size=4, max_size=30).map(tuple))
    before = draw(st.lists(STEPS, max_size=3).map(tuple))
    if faults:
        op: st.SearchStrategy[Op] = st.one_of(
            STEPS, STEPS, FAULTY_DELIVERY, FAULTY_DELIVERY, FAULTY_REST, st.just(Audit()),
            RECONNECTS,
        )  # fmt: skip
    else:
        op = st.one_of(STEPS, st.just(Deliver()), st.just(Deliver("dup")), st.just(Rest()))
    ops = draw(st.lists(op, max_size=60).map(tuple))
    return Script(depth, explicit_edges, initial, before, ops)


def machine(edges: Edges = Edges.AUTO, cls: type[BookSync] = BookSync) -> Any:
    options = BookSyncOptions(edges=edges, buffer_limit=64)
    return lambda depth: cls(SYM, depth, options=options)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts(explicit=True))
def test_exact_under_every_fault_when_the_server_deletes_at_the_window_edge(
    script: Script,
) -> None:
    run(machine(), script)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts(explicit=False))
def test_exact_under_every_fault_when_the_server_sends_nothing_at_the_edge(
    script: Script,
) -> None:
    run(machine(Edges.IMPLICIT), script)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts(faults=False, explicit=True))
def test_without_faults_no_resync_ever(script: Script) -> None:
    made: list[BookSync] = []

    def make(depth: int) -> BookSync:
        made.append(BookSync(SYM, depth, options=BookSyncOptions(edges=Edges.EXPLICIT)))
        return made[0]

    run(make, script)
    assert made[0].resyncs == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts())
def test_trusting_the_window_edge_is_exact_when_the_server_does_delete_there(
    script: Script,
) -> None:
    if script.explicit_edges:
        run(machine(Edges.EXPLICIT), script)


# ---- planted bugs: the suite must catch them ------------------------------------------------


@pytest.mark.parametrize(("bug", "edges"), [(SkipsPrevTs, True), (SkipsPrevTs, False),
                                            (SeedsDeep, True)])  # fmt: skip
def test_the_properties_catch_a_planted_bug(bug: type[BookSync], edges: bool) -> None:
    make = machine(Edges.AUTO if edges else Edges.IMPLICIT, bug)
    caught: list[tuple[Script, str]] = []

    @settings(max_examples=3000, database=None, deadline=None, phases=[Phase.generate])
    @given(scripts(explicit=edges))
    def holds(script: Script) -> None:
        broken = violation(make, script)
        if broken is not None:
            caught.append((script, broken))
        assert broken is None

    with pytest.raises(AssertionError):
        holds()
    script, _ = caught[0]
    assert violation(machine(Edges.AUTO if edges else Edges.IMPLICIT), script) is None
