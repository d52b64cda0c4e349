"""The trades channel's reconciliation, case by case: what each REST page proves, the frontier
millisecond completed by multiset, exact gap bounds, rotations, contradictions, bounded memory.
(The same rules against a generated tape: test_trades_tape.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from host_stub.spec import Channel, Side, StatusEvent, StatusKind, Trade, TradeEvent
from woox_datasource.channels.trades_cover import (
    NEVER,
    RangeIgnored,
    by_time,
    excess,
    newest_coverage,
    range_coverage,
    upper,
)
from woox_datasource.channels.trades_sync import Event, Read, ReadKind, TradeSync

SYM = "SPOT_BTC_USDT"


def trade(ms: int, price: str = "100.5", size: str = "0.01", side: Side = Side.BUY,
          external: bool = False) -> Trade:  # fmt: skip
    return Trade(SYM, ms, Decimal(price), Decimal(size), side, external)


A = trade(100)
B = trade(100, side=Side.SELL)


def trades_of(events: list[Event]) -> list[Trade]:
    return [e.trade for e in events if isinstance(e, TradeEvent)]


def statuses(events: list[Event]) -> list[tuple[StatusKind, int | None, int | None, int | None]]:
    return [(e.kind, e.start, e.end, e.count) for e in events if isinstance(e, StatusEvent)]


def live(sync: TradeSync, socket: str, *pushed: Trade) -> list[Event]:
    out: list[Event] = []
    for t in pushed:
        out += sync.push(t, socket)
    return out


# ---- what a page proves -------------------------------------------------------------------------


def test_newest_page_full_proves_only_after_its_oldest_millisecond() -> None:
    rows = [trade(105), trade(103), trade(103)]  # newest first, as WOO X sends them
    cover = newest_coverage(rows, limit=3, now=110)
    assert [t.time for t in cover.trades] == [103, 103, 105]
    assert (cover.start, cover.end) == (104, 110)  # ms 103 may hold more than the page shows


def test_newest_page_short_proves_everything_before_its_reply() -> None:
    cover = newest_coverage([trade(103)], limit=3, now=110)
    assert (cover.start, cover.end) == (NEVER, 110)
    assert not newest_coverage([], limit=3, now=None).complete  # no clock: proves nothing
    assert newest_coverage([trade(103)], limit=3, now=None).end == 103  # ms 103 may go on


@pytest.mark.parametrize(
    ("rows", "limit", "now", "span"),
    [
        ([], 3, 200, (100, 150)),  # empty: the whole range
        ([], 3, 120, (100, 120)),  # ... but never beyond the reply's clock
        ([trade(101), trade(104)], 3, 200, (100, 105)),  # short: up to its newest ms
        ([trade(101), trade(104), trade(104)], 3, 200, (100, 104)),  # full: ms 104 may be cut
        ([trade(104)] * 3, 3, 200, (100, 104)),  # full, one ms: "empty before" (if honoured)
    ],
)
def test_history_page_proves(rows: list[Trade], limit: int, now: int,
                             span: tuple[int, int]) -> None:  # fmt: skip
    cover = range_coverage(rows, start=100, end=150, limit=limit, now=now)
    assert (cover.start, cover.end) == span


def test_history_page_outside_its_range_means_the_range_was_ignored() -> None:
    with pytest.raises(RangeIgnored, match=r"outside the range \[100, 150\)"):
        range_coverage([trade(160)], start=100, end=150, limit=3, now=200)


def test_rows_are_put_in_time_order_keeping_the_exchange_order_within_a_millisecond() -> None:
    a, b = trade(5), trade(5, side=Side.SELL)
    assert by_time([trade(7), b, a, trade(3)]) == (trade(3), a, b, trade(7))  # newest first
    assert by_time([trade(7), a, trade(3), b]) == (trade(3), a, b, trade(7))  # mixed: stable


def test_multiset_arithmetic_counts_identical_trades() -> None:
    assert excess([A, A, B, A], [A, B]) == [A, A]
    assert upper([[A, A], [A, B], [B]]) == [A, A, B]
    same = trade(100, price="100.50", size="0.010")  # REST spells digits differently
    assert excess([A], [same]) == []


# ---- live, reconnect, gaps ------------------------------------------------------------------


def test_identical_trades_in_one_millisecond_are_each_delivered() -> None:
    sync = TradeSync(SYM)
    assert trades_of(live(sync, "s1", A, A, B, trade(101))) == [A, A, B, trade(101)]


def test_reconnect_completes_the_frontier_millisecond_as_a_multiset() -> None:
    sync = TradeSync(SYM)
    live(sync, "s1", trade(99), A, A)  # two identical trades at 100, then the drop
    assert sync.lost("s1") == []
    assert sync.subscribed("s2", ack_time=105) == []
    read = sync.next_read()
    assert read == Read(ReadKind.NEWEST, 500, bounds_live=True, source="s2", outage=1)
    rows = [trade(104, side=Side.SELL), A, A, A, B, trade(99)]  # newest first
    events = sync.on_read(read, rows, now=106)
    # ms 100 completed (REST holds B and a third A), in the page's (the exchange's) order
    assert trades_of(events) == [B, A, trade(104, side=Side.SELL)]
    assert statuses(events) == [(StatusKind.GAP_FILLED, 100, 106, 3)]
    assert sync.authority == "s2" and not sync.recovering
    assert trades_of(live(sync, "s2", trade(105), trade(106))) == [trade(106)]  # 105: REST's


def test_a_page_cut_inside_a_millisecond_is_reported_with_that_millisecond() -> None:
    sync = TradeSync(SYM, page_limit=3, history=False)
    live(sync, "s1", A)
    sync.lost("s1")
    sync.subscribed("s2", ack_time=109)
    read = sync.next_read()
    assert read is not None
    c = trade(103, side=Side.SELL)
    assert trades_of(sync.on_read(read, [trade(105), c, c], now=110)) == []
    assert sync.next_read() is None  # nothing more to read: REST cannot reach ms 100
    events = sync.conclude()
    gap = next(e for e in events if isinstance(e, StatusEvent))
    assert (gap.kind, gap.start, gap.end, gap.count) == (StatusKind.GAP_UNFILLABLE, 100, 104, None)
    assert gap.channel is Channel.TRADES and gap.interval is None
    assert "newest 3 trades, back to 103" in gap.reason
    assert trades_of(events) == [c, c, trade(105)]  # known trades in the window, once each
    assert events[0] is gap  # the report comes before the trades it qualifies


def beyond_the_newest_page() -> TradeSync:
    """Delivered up to ms 100, then a drop; the newest page (2 rows) proves [111, 121) only."""
    sync = TradeSync(SYM, page_limit=2)
    live(sync, "s1", A)
    sync.lost("s1")
    sync.subscribed("s2", ack_time=120)
    assert sync.on_read(Read(ReadKind.NEWEST, 2, outage=1), [trade(115), trade(110)], now=121) == []
    return sync


def test_history_pages_fill_what_the_newest_page_cannot_reach() -> None:
    sync = beyond_the_newest_page()
    events: list[Event] = []
    pages = {  # oldest first, cut by the limit (inside a millisecond, or not)
        (100, 111): [A, trade(104)],
        (104, 111): [trade(104), trade(108)],
        (108, 111): [trade(108), trade(110)],
        (110, 111): [trade(110)],
    }
    asked = []
    while (read := sync.next_read()) is not None:
        assert read.kind is ReadKind.RANGE and read.start is not None and read.end is not None
        asked.append((read.start, read.end))
        events += sync.on_read(read, pages[read.start, read.end], now=121)
    assert asked == list(pages)
    assert trades_of(events) == [trade(104), trade(108), trade(110), trade(115)]
    assert statuses(events) == [(StatusKind.GAP_FILLED, 100, 121, 4)]


def test_a_full_history_page_in_one_millisecond_is_given_up_alone() -> None:
    sync = beyond_the_newest_page()
    read = sync.next_read()
    assert read == Read(ReadKind.RANGE, 2, start=100, end=111, outage=1)
    events = sync.on_read(read, [A, A], now=121)  # ms 100 may hold more than a page
    assert statuses(events)[0] == (StatusKind.GAP_UNFILLABLE, 100, 101, None)
    assert trades_of(events) == [A]  # the second A, known for sure; the first was delivered
    read = sync.next_read()
    assert read == Read(ReadKind.RANGE, 2, start=101, end=111, outage=1)  # the rest goes on


def test_a_full_page_in_one_later_millisecond_proves_nothing_until_the_range_before_it() -> None:
    sync = beyond_the_newest_page()
    read = sync.next_read()
    assert read is not None
    # What a server ignoring the range would send, or the true first page: cannot tell.
    assert sync.on_read(read, [trade(110), trade(110)], now=121) == []
    read = sync.next_read()
    assert read == Read(
        ReadKind.RANGE, 2, start=100, end=110, outage=1
    )  # first: anything before it?
    events = sync.on_read(read, [trade(115), trade(110)], now=121)  # ignored after all
    assert sync.history is False and events == []
    assert sync.next_read() is None


def test_history_kept_short_is_searched_and_only_what_it_lacks_is_reported() -> None:
    sync = beyond_the_newest_page()
    truth = [trade(104), trade(106), trade(107), trade(108), trade(110)]
    kept, events, asked = 105, [], []
    while (read := sync.next_read()) is not None:
        assert read.kind is ReadKind.RANGE and read.start is not None and read.end is not None
        asked.append(read.start)
        if read.start < kept:
            events += sync.on_read_failed(read, "HTTP 400: startTime before the history kept")
            continue
        rows = [t for t in truth if read.start <= t.time < read.end][: read.limit]
        events += sync.on_read(read, rows, now=121)
    assert asked[:5] == [100, 105, 102, 103, 104]  # bisection for where history begins
    assert statuses(events) == [(StatusKind.GAP_UNFILLABLE, 100, 105, None)]
    assert "serves trades from 105 on" in next(e for e in events if isinstance(e, StatusEvent)
                                               ).reason  # fmt: skip
    assert trades_of(events) == [trade(106), trade(107), trade(108), trade(110), trade(115)]
    assert sync.history and not sync.recovering


def test_rotation_hands_over_without_rest_and_skips_what_the_new_socket_repeats() -> None:
    sync = TradeSync(SYM)
    live(sync, "old", trade(99), A, A)
    assert sync.subscribed("new", ack_time=99) == []  # the old one is past it: switch now
    assert sync.authority == "new" and sync.next_read() is None
    events = live(sync, "new", trade(99), A, A, B, trade(101))
    assert trades_of(events) == [B, trade(101)]
    assert live(sync, "old", B, trade(101)) == []  # the old socket's tail is ignored
    assert sync.lost("old") == [] and not sync.recovering


def test_rotation_waits_for_the_old_socket_to_pass_the_new_one_start() -> None:
    sync = TradeSync(SYM)
    live(sync, "old", A)
    sync.subscribed("new", ack_time=101)  # holds everything from 102 on
    assert live(sync, "new", trade(102)) == []  # held: the old one is still at 100
    assert sync.authority == "old"
    events = live(sync, "old", trade(101), trade(102))
    assert trades_of(events) == [trade(101), trade(102)]
    assert sync.joining is None and sync.authority in ("new",)  # the new socket took over
    assert trades_of(live(sync, "new", trade(103))) == [trade(103)]


def test_rest_contradicting_what_was_delivered_proves_nothing() -> None:
    sync = TradeSync(SYM, history=False)
    live(sync, "s1", A, A)
    sync.lost("s1")
    sync.subscribed("s2", ack_time=104)
    read = sync.next_read()
    assert read is not None
    sync.on_read(read, [trade(103), A], now=105)  # one A only: REST is behind, or wrong
    assert sync.stats.conflicts == 1
    while (read := sync.next_read()) is not None:
        sync.on_read(read, [trade(103), A], now=106)
    events = sync.conclude()
    assert statuses(events) == [(StatusKind.GAP_UNFILLABLE, 100, 105, None)]  # no gap_filled
    assert trades_of(events) == [trade(103)]  # the As: delivered already, at most that many


def test_a_trade_pushed_after_a_later_one_is_reported_not_lost_silently() -> None:
    sync = TradeSync(SYM)
    events = live(sync, "s1", trade(100), trade(102), trade(101))
    assert statuses(events) == [(StatusKind.GAP_UNFILLABLE, 101, 102, 1)]
    assert sync.stats.late == 1


def test_backfill_reads_the_past_then_joins_live_at_an_exact_seam() -> None:
    sync = TradeSync(SYM, backfill_from=90)
    assert sync.next_read() is None  # no socket yet: the window has no end
    sync.subscribed("s1", ack_time=100)
    assert live(sync, "s1", A, trade(101)) == []  # held while the past is read
    read = sync.next_read()
    assert read is not None
    events = sync.on_read(read, [trade(89), trade(95), A, A], now=101)
    assert trades_of(events) == [trade(95), A, A, trade(101)]
    assert statuses(events) == [(StatusKind.BACKFILLED, 90, 101, 3)]


def test_memory_holds_the_frontier_millisecond_only() -> None:
    sync = TradeSync(SYM)
    for ms in range(100_000, 120_000):
        for _ in range(ms % 4):
            sync.push(trade(ms), "s1")
    assert sync.remembered <= 3


def test_a_long_outage_sheds_held_pushes_and_asks_rest_for_more() -> None:
    sync = TradeSync(SYM, hold_limit=3, history=False)
    live(sync, "s1", A)
    sync.lost("s1")
    sync.subscribed("s2", ack_time=100)  # holds everything from 101 on, but ...
    live(sync, "s2", trade(101), trade(102), trade(103), trade(104), trade(105))
    assert sync.stats.shed == 2 and sync.remembered <= 4  # 101, 102 shed: trusted from 103
    read = sync.next_read()
    assert read is not None
    rows = [trade(105), trade(104), trade(103), trade(102), trade(101), A]
    events = sync.on_read(read, rows, now=106)
    want = [trade(101), trade(102), trade(103), trade(104), trade(105)]
    assert trades_of(events) == want
    assert not sync.recovering


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        TradeSync(SYM, page_limit=0)


def test_a_late_answer_to_an_earlier_outages_read_is_ignored() -> None:
    sync = beyond_the_newest_page()
    pages = {(100, 111): [A, trade(104)], (104, 111): [trade(104), trade(108)],
             (108, 111): [trade(108), trade(110)], (110, 111): [trade(110)]}  # fmt: skip
    old = sync.next_read()
    assert old is not None and old.kind is ReadKind.RANGE
    while (read := sync.next_read()) is not None:
        assert read.start is not None and read.end is not None
        sync.on_read(read, pages[read.start, read.end], now=121)
    assert sync.authority == "s2" and not sync.recovering
    sync.lost("s2")  # a second outage
    sync.subscribed("s3", ack_time=130)
    # The first outage's range read fails after all (a retry that gave up late): it says
    # nothing about this outage, so no search for where history begins starts.
    assert sync.on_read_failed(old, "HTTP 400") == []
    assert sync.on_read(old, [trade(104)], now=121) == []
    read = sync.next_read()
    assert read is not None and read.kind is ReadKind.NEWEST and read.outage != old.outage
    assert sync.on_read(read, [trade(128), trade(126)], now=131) == []  # proves [127, 131)
    assert sync.next_read() == Read(ReadKind.RANGE, 2, start=121, end=127, outage=read.outage)


def test_a_backfill_is_settled_only_once_its_socket_has_passed_what_rest_delivered() -> None:
    sync = TradeSync(SYM, backfill_from=90)
    assert sync.subscribed("out", ack_time=100) == []
    read = sync.next_read()
    assert read is not None
    events = sync.on_read(read, [trade(105), trade(95)], now=110)  # REST runs ahead: to 110
    assert trades_of(events) == [trade(95), trade(105)] and sync.authority == "out"
    assert not sync.settled  # the socket has yet to push 105 (a duplicate then)
    assert live(sync, "out", trade(105)) == [] and not sync.settled
    assert trades_of(live(sync, "out", trade(111))) == [trade(111)] and sync.settled
