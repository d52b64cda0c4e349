"""The book sync rule by rule, on hand-made deltas and snapshots (the property tests in
``test_book_sync_property`` cover random histories with faults)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from _book_truth import SYM as TRUTH_SYM
from _book_truth import Deliver, Rest, Script, SeedsDeep, Step, violation

from host_stub.spec import BookEvent, Channel, Level, OrderBook, StatusEvent, StatusKind
from woox_datasource.channels.book_sync import BookSync, BookSyncOptions, Edges, FetchSnapshot
from woox_datasource.wire import BookUpdate

SYM = "PERP_ETH_USDT"


def levels(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    return tuple((Decimal(p), Decimal(s)) for p, s in pairs)


def delta(prev: int, ts: int, bids: tuple[tuple[str, str], ...] = (),
          asks: tuple[tuple[str, str], ...] = (), depth: int = 50) -> BookUpdate:  # fmt: skip
    return BookUpdate(SYM, depth, False, prev, ts, levels(*bids), levels(*asks))


def snap(at: int, bids: tuple[tuple[str, str], ...] = (("100", "1"),),
         asks: tuple[tuple[str, str], ...] = (("101", "1"),)) -> BookEvent:  # fmt: skip
    return BookEvent(SYM, 50, at, True, levels(*bids), levels(*asks))


def kinds(events: Sequence[object]) -> list[str]:
    out = []
    for event in events:
        if isinstance(event, StatusEvent):
            assert event.channel is Channel.BOOK
            out.append(event.kind.value)
        else:
            assert isinstance(event, BookEvent)
            out.append(f"{'snapshot' if event.snapshot else 'delta'}@{event.time}")
    return out


def started(**options: object) -> BookSync:
    sync = BookSync(SYM, 50, options=BookSyncOptions(**options))  # type: ignore[arg-type]
    sync.on_subscribed()
    assert sync.take_fetch() == FetchSnapshot(0.25, "subscribed: seeding the book")
    assert sync.take_fetch() is None
    return sync


def synced_at(at: int, **options: object) -> BookSync:
    sync = started(**options)
    assert kinds(sync.on_snapshot(snap(at))) == [f"snapshot@{at}"]
    return sync


def test_the_documented_recipe_starts_at_the_delta_whose_prevts_is_the_snapshot() -> None:
    sync = started()
    assert sync.on_delta(delta(900, 1000, bids=(("99", "5"),))) == []
    assert sync.on_delta(delta(1000, 1100, asks=(("101", "2"),))) == []
    assert sync.on_delta(delta(1100, 1200, bids=(("100", "0"), ("99.5", "1")))) == []
    events = sync.on_snapshot(snap(1000, bids=(("100", "1"), ("99", "5"))))
    # the buffered chain is folded into the one snapshot: as current as the socket
    assert kinds(events) == ["snapshot@1200"]
    book = events[0]
    assert isinstance(book, BookEvent)
    assert book.bids == levels(("99.5", "1"), ("99", "5"))
    assert book.asks == levels(("101", "2"))
    assert kinds(sync.on_delta(delta(1200, 1300, asks=(("102", "1"),)))) == ["delta@1300"]
    assert sync.last_ts == 1300
    assert sync.take_fetch() is None
    assert (sync.resyncs, sync.applied, sync.buffered) == (0, 3, 0)


def test_an_idle_book_is_synced_as_of_its_snapshot_and_a_later_gap_resyncs() -> None:
    sync = synced_at(5000)
    assert sync.synced and sync.last_ts == 5000
    # the next delta does not start at the snapshot: a change between them was missed
    assert sync.on_delta(delta(6000, 7000, bids=(("100", "3"),))) == []
    assert not sync.synced
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.delay == 0 and "chain break" in fetch.reason
    events = sync.on_snapshot(snap(6000))
    assert kinds(events) == ["resynced", "snapshot@7000"]
    assert isinstance(events[0], StatusEvent) and "6000->7000 after 5000" in events[0].reason
    assert sync.resyncs == 1


def test_a_snapshot_behind_the_socket_is_retried_with_backoff_then_reported_stale() -> None:
    sync = started(retry_delays=(0.5, 1.0, 2.0), stale_after=3)
    sync.on_delta(delta(2000, 2100))
    delays = []
    for attempt in range(4):
        events = sync.on_snapshot(snap(1000 + attempt))
        fetch = sync.take_fetch()
        assert fetch is not None and "behind the socket" in fetch.reason
        delays.append(fetch.delay)
        assert kinds(events) == (["stale"] if attempt == 2 else [])
        assert sync.stale == (attempt >= 2)
    assert delays == [0.5, 1.0, 2.0, 2.0]
    # the snapshot catches up: the book is announced as resynced (it was stale)
    sync.on_delta(delta(2100, 2200))
    assert kinds(sync.on_snapshot(snap(2000))) == ["resynced", "snapshot@2200"]
    assert not sync.stale and sync.synced


def test_a_failed_rest_read_counts_as_a_miss_but_never_drops_a_synced_book() -> None:
    sync = started(stale_after=1)
    events = sync.on_snapshot_failed("HTTP 500 from /v3/public/orderbook")
    assert kinds(events) == ["stale"]
    assert isinstance(events[0], StatusEvent) and "HTTP 500" in events[0].reason
    assert sync.take_fetch() is not None
    assert kinds(sync.on_snapshot(snap(10))) == ["resynced", "snapshot@10"]
    sync.request_audit()
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.audit
    assert sync.on_snapshot_failed("timeout") == []
    assert sync.synced


def test_duplicates_and_older_deltas_are_ignored() -> None:
    sync = synced_at(1000)
    first = delta(1000, 1100, bids=(("100", "2"),))
    assert kinds(sync.on_delta(first)) == ["delta@1100"]
    assert sync.on_delta(first) == []
    assert sync.on_delta(delta(900, 1000, bids=(("100", "9"),))) == []
    assert sync.synced and sync.ignored == 2
    assert sync.book is not None and sync.book.bids == levels(("100", "2"))


def test_no_delta_is_applied_across_a_break() -> None:
    sync = synced_at(1000)
    assert sync.on_delta(delta(1100, 1200, bids=(("100", "7"),))) == []  # 1000->1100 lost
    assert sync.on_delta(delta(1200, 1300, bids=(("99", "1"),))) == []
    assert sync.book is None
    sync.take_fetch()
    # a snapshot from before the lost delta cannot be bridged to the buffered ones
    assert sync.on_snapshot(snap(1000)) == []
    sync.take_fetch()
    events = sync.on_snapshot(snap(1200, bids=(("100", "7"),)))
    assert kinds(events) == ["resynced", "snapshot@1300"]
    assert isinstance(events[1], BookEvent)
    assert events[1].bids == levels(("100", "7"), ("99", "1"))


def test_a_delta_that_crosses_the_book_resyncs() -> None:
    sync = synced_at(1000)
    assert sync.on_delta(delta(1000, 1100, bids=(("101", "1"),))) == []
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.reason.startswith("crossed book")
    # REST shows the exchange's own book crossed (an RPI book may): crossing stops counting
    crossed = snap(1100, bids=(("101", "1"), ("100", "1")))
    assert kinds(sync.on_snapshot(crossed)) == ["resynced", "snapshot@1100"]
    assert kinds(sync.on_delta(delta(1100, 1200, bids=(("102", "1"),)))) == ["delta@1200"]


def test_crossing_checks_can_be_turned_off() -> None:
    sync = synced_at(1000, check_crossed=False)
    assert kinds(sync.on_delta(delta(1000, 1100, bids=(("101", "1"),)))) == ["delta@1100"]


def test_a_rest_read_at_the_books_time_must_agree_with_it() -> None:
    sync = synced_at(1000)
    sync.on_delta(delta(1000, 1100, bids=(("100", "2"),)))
    sync.request_audit()
    assert sync.on_snapshot(snap(1100, bids=(("100.000", "2.0"),))) == []  # same numbers
    assert sync.on_snapshot(snap(1050)) == []  # REST lags: nothing to compare
    events = sync.on_snapshot(snap(1100, bids=(("100", "2"), ("99", "1"))))
    assert kinds(events) == ["resynced", "snapshot@1100"]
    assert isinstance(events[0], StatusEvent) and "differs" in events[0].reason
    assert isinstance(events[1], BookEvent) and len(events[1].bids) == 2


def test_a_newer_rest_read_is_confirmed_before_calling_a_delta_lost() -> None:
    sync = synced_at(1000, confirm_delay=1.5)
    sync.request_audit()
    sync.take_fetch()
    assert sync.on_snapshot(snap(1100, bids=(("100", "4"),))) == []
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.audit and fetch.delay == 1.5
    # the delta was only in flight: it arrives and matches the REST book
    assert kinds(sync.on_delta(delta(1000, 1100, bids=(("100", "4"),)))) == ["delta@1100"]
    assert sync.on_snapshot(snap(1100, bids=(("100", "4"),))) == []
    assert sync.resyncs == 0
    # now one really is lost: REST moves on, the socket says nothing
    sync.request_audit()
    sync.take_fetch()
    assert sync.on_snapshot(snap(1200, bids=(("100", "5"),))) == []
    sync.take_fetch()
    events = sync.on_snapshot(snap(1300, bids=(("100", "6"),)))
    assert kinds(events) == ["resynced", "snapshot@1300"]


def test_a_book_that_never_gets_a_delta_says_it_is_stale() -> None:
    """Spot books may never get deltas at WOO X (UNCERTAIN): REST shows the change, the socket
    does not, so the book follows REST reads and says so; a delta that does come lifts it."""
    sync = synced_at(1000)
    sync.on_subscribed()  # a reconnect: check the book against REST
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.audit
    assert sync.on_snapshot(snap(2000)) == []
    sync.take_fetch()
    events = sync.on_snapshot(snap(3000, bids=(("100", "9"),)))
    assert kinds(events) == ["resynced", "snapshot@3000", "stale"]
    assert isinstance(events[2], StatusEvent) and "no delta has arrived" in events[2].reason
    assert sync.stale and sync.synced
    events = sync.on_delta(delta(3000, 3100, bids=(("100", "8"),)))
    assert kinds(events) == ["resynced", "snapshot@3100"]
    assert not sync.stale


def test_a_rest_book_deeper_than_the_depth_is_cut() -> None:
    sync = BookSync(SYM, 2)
    sync.on_subscribed()
    wide = BookEvent(SYM, 2, 10, True, levels(("3", "1"), ("2", "1"), ("1", "1")),
                     levels(("4", "1"), ("5", "1"), ("6", "1")))  # fmt: skip
    events = sync.on_snapshot(wide)
    assert isinstance(events[0], BookEvent)
    assert events[0].bids == levels(("3", "1"), ("2", "1"))
    assert events[0].asks == levels(("4", "1"), ("5", "1"))


def test_a_deep_seed_surfaces_a_level_the_exchange_deleted() -> None:
    """What ccxt's 1000-level seed does to a 50-level stream, shown at depth 1: bid 2.25 is
    deleted below the window (no delta), then the best bid goes and the server re-inserts 2.0;
    a book seeded deep shows 2.25, a book cut to its depth shows the truth."""
    script = Script(
        depth=1, explicit_edges=True,
        initial=((True, 10, 1), (True, 9, 1), (True, 8, 1), (False, 30, 1)),
        before=(),
        ops=(Step(1, ((True, 9, 0),)), Step(1, ((True, 10, 0),)), Deliver(),
             Rest("lag", 1, deep=True)),
    )  # fmt: skip
    found = violation(lambda depth: SeedsDeep(TRUTH_SYM, depth), script)
    assert found is not None and "differs from the exchange's" in found
    assert violation(lambda depth: BookSync(TRUTH_SYM, depth), script) is None


def test_the_buffer_is_bounded_and_an_overflow_never_skips_a_delta() -> None:
    sync = started(buffer_limit=4)
    for i in range(10):
        sync.on_delta(delta(1000 + i, 1001 + i, bids=(("100", str(i + 1)),)))
    assert sync.buffered == 4 and sync.evicted == 6
    assert sync.on_snapshot(snap(1000)) == []  # the deltas after it are gone: a miss
    sync.take_fetch()
    events = sync.on_snapshot(snap(1006))
    assert kinds(events) == ["snapshot@1010"]
    assert isinstance(events[0], BookEvent) and events[0].bids == levels(("100", "10"))


def test_a_snapshot_inside_an_aggregated_delta_never_seeds_a_busy_book() -> None:
    """If depth 200/500 pushes aggregate changes and REST's timestamp is no delta's ts
    (UNCERTAIN), the snapshot never aligns: the book stays stale rather than guessing."""
    sync = started(stale_after=2)
    sync.on_delta(delta(1000, 1200, depth=50))
    assert sync.on_snapshot(snap(1100)) == []
    fetch = sync.take_fetch()
    assert fetch is not None and "spans" in fetch.reason
    assert kinds(sync.on_snapshot(snap(1150))) == ["stale"]
    # an idle book still seeds: nothing after the snapshot to align with
    idle = started()
    assert kinds(idle.on_snapshot(snap(1100))) == ["snapshot@1100"]


def full(side: str, n: int, start: int, step: int) -> tuple[tuple[str, str], ...]:
    return tuple((str(start + step * i), "1") for i in range(n)) if side else ()


def test_window_edges_auto_is_cautious_then_learns_from_a_refill() -> None:
    sync = BookSync(SYM, 3)
    sync.on_subscribed()
    sync.on_snapshot(BookEvent(SYM, 3, 10, True, levels(*full("b", 3, 100, -1)),
                               levels(*full("a", 3, 200, 1))))  # fmt: skip
    learned = [sync.edges]
    # a level of a full side deleted and the side refilled from below: the server re-inserts
    assert kinds(sync.on_delta(delta(10, 20, bids=(("99", "0"), ("97", "1")), depth=3))) == [
        "delta@20"
    ]
    learned.append(sync.edges)
    assert learned == [Edges.AUTO, Edges.EXPLICIT]
    # now a short side is the exchange's own
    assert kinds(sync.on_delta(delta(20, 30, bids=(("100", "0"),), depth=3))) == ["delta@30"]


def test_window_edges_auto_resyncs_a_full_side_left_short_until_it_knows() -> None:
    sync = BookSync(SYM, 3)
    sync.on_subscribed()
    sync.on_snapshot(BookEvent(SYM, 3, 10, True, levels(*full("b", 3, 100, -1)),
                               levels(*full("a", 3, 200, 1))))  # fmt: skip
    assert sync.on_delta(delta(10, 20, bids=(("100", "0"),), depth=3)) == []
    fetch = sync.take_fetch()
    assert fetch is not None and "window edge" in fetch.reason


def test_window_edges_auto_switches_for_good_when_a_side_grows_past_the_depth() -> None:
    sync = BookSync(SYM, 3)
    sync.on_subscribed()
    sync.on_snapshot(BookEvent(SYM, 3, 10, True, levels(*full("b", 3, 100, -1)),
                               levels(*full("a", 3, 200, 1))))  # fmt: skip
    # a better bid and no deletion of the one it pushed out: the server leaves edges to us
    assert kinds(sync.on_delta(delta(10, 20, bids=(("100.5", "1"),), depth=3))) == ["delta@20"]
    assert sync.edges is Edges.IMPLICIT
    assert sync.book is not None
    assert [p for p, _ in sync.book.bids] == [Decimal("100.5"), 100, 99]
    # a refill no longer convinces it, and a full side left short is a break
    sync.on_delta(delta(20, 30, bids=(("99", "0"), ("97", "1")), depth=3))
    assert sync.edges is Edges.IMPLICIT
    assert sync.on_delta(delta(30, 40, bids=(("100", "0"),), depth=3)) == []
    assert not sync.synced


def test_window_edges_explicit_trusts_a_short_side() -> None:
    sync = BookSync(SYM, 3, options=BookSyncOptions(edges=Edges.EXPLICIT))
    sync.on_subscribed()
    sync.on_snapshot(BookEvent(SYM, 3, 10, True, levels(*full("b", 3, 100, -1)),
                               levels(*full("a", 3, 200, 1))))  # fmt: skip
    assert kinds(sync.on_delta(delta(10, 20, bids=(("100", "0"),), depth=3))) == ["delta@20"]


def test_the_machines_book_is_what_the_consumer_builds() -> None:
    sync = started()
    consumer = OrderBook()
    sync.on_delta(delta(1, 2, bids=(("99", "1"),)))
    for event in sync.on_snapshot(snap(1)) + sync.on_delta(delta(2, 3, asks=(("101", "0"),))):
        assert isinstance(event, BookEvent)
        consumer.apply(event)
    assert sync.book is not None
    assert (sync.book.bids, sync.book.asks, sync.book.time) == (
        consumer.bids,
        consumer.asks,
        consumer.time,
    )


def test_resubscribing_audits_a_synced_book_and_never_asks_twice() -> None:
    sync = synced_at(1000)
    sync.on_subscribed()
    sync.on_subscribed()
    fetch = sync.take_fetch()
    assert fetch is not None and fetch.audit and "resubscribed" in fetch.reason
    assert sync.take_fetch() is None


def test_mixed_up_inputs_are_refused() -> None:
    sync = started()
    with pytest.raises(ValueError, match="PERP_BTC_USDT@50 rpi=False delta reached the "
                                         "PERP_ETH_USDT@50 rpi=False book"):  # fmt: skip
        sync.on_delta(BookUpdate("PERP_BTC_USDT", 50, False, 1, 2, (), ()))
    with pytest.raises(ValueError, match="rpi=True delta reached"):
        sync.on_delta(BookUpdate(SYM, 50, True, 1, 2, (), ()))
    with pytest.raises(ValueError, match="cannot seed the PERP_ETH_USDT book"):
        sync.on_snapshot(BookEvent(SYM, 50, 1, False, (), ()))
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        BookSync(SYM, 0)
    with pytest.raises(ValueError, match="retry_delays"):
        BookSyncOptions(retry_delays=())
    with pytest.raises(ValueError, match="invalid book sync options"):
        BookSyncOptions(buffer_limit=0)
    assert StatusKind.STALE.value == "stale"
