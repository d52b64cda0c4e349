"""The book feed's rotation seam, driven by hand (no socket: the order of two connections'
deltas is what matters, and over loopback the two rarely overtake each other)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any, cast

from host_stub.spec import BookEvent, StatusKind
from woox_datasource import wire
from woox_datasource.channels.book_feed import BookFeed
from woox_datasource.channels.book_sync import BookSyncOptions
from woox_datasource.stream import StreamOptions, StreamStats
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.stats import LogLimiter

SYM = "PERP_BTC_USDT"
TOPIC = wire.book_topic(SYM, 50)


class Host:
    """The little of a pool a feed touches when it needs no REST read."""

    def __init__(self) -> None:
        self.options = StreamOptions()
        self.stats = StreamStats()
        self.limiter = LogLimiter()
        self.rest: Any = None
        self.rng = random.Random(1)

    def service(self, key: str, make: Any) -> Any:
        return make()

    def forget(self, feed: Any) -> None:
        pass


def push(prev: int, ts: int, bid: str) -> wire.Push:
    text = (f'{{"topic":"{TOPIC}","ts":{ts},"data":{{"s":"{SYM}","prevTs":{prev},"ts":{ts},'
            f'"bids":[["100","{bid}"]],"asks":[]}}}}')  # fmt: skip
    frame = wire.decode_frame(text)
    assert isinstance(frame, wire.Push)
    return frame


def synced_feed() -> BookFeed:
    feed = BookFeed(Host(), TOPIC, SYM, 50, False, BookSyncOptions())
    feed.sync.on_subscribed()
    feed.sync.take_fetch()
    seed = BookEvent(SYM, 50, 1, True, ((Decimal(100), Decimal(1)),), ((Decimal(101), Decimal(1)),))
    assert feed.sync.on_snapshot(seed)
    return feed


def test_a_new_connection_ahead_of_the_old_one_waits_for_it() -> None:
    feed = synced_feed()
    old, new = cast(Connection, object()), cast(Connection, object())
    handover = Handover(old, new, [TOPIC], "rotating")
    feed.begin_handover(handover)
    feed.on_push(push(2, 3, "3"), new)  # the old one still owes 1->2
    assert feed.sync.last_ts == 1 and TOPIC in handover.waiting
    feed.on_push(push(1, 2, "2"), old)
    assert feed.sync.last_ts == 3  # 1->2 from the old connection, then the held 2->3
    assert not handover.waiting  # the old connection is released
    feed.on_push(push(2, 3, "3"), old)  # what the old one still sends is not heard
    feed.on_push(push(3, 4, "4"), new)
    feed.end_handover(handover, completed=True)
    assert feed.sync.last_ts == 4 and feed.sync.resyncs == 0 and feed.sync.synced


def test_a_new_connection_that_links_at_once_takes_over_at_once() -> None:
    feed = synced_feed()
    old, new = cast(Connection, object()), cast(Connection, object())
    handover = Handover(old, new, [TOPIC], "rotating")
    feed.begin_handover(handover)
    feed.on_push(push(1, 2, "2"), new)
    assert not handover.waiting and feed.sync.last_ts == 2


async def test_a_rotation_that_ends_before_the_old_one_caught_up_replays_what_was_held() -> None:
    feed = synced_feed()
    old, new = cast(Connection, object()), cast(Connection, object())
    handover = Handover(old, new, [TOPIC], "rotating")
    feed.begin_handover(handover)
    feed.on_push(push(2, 3, "3"), new)
    feed.end_handover(handover, completed=True)  # the old connection never delivered 1->2
    assert not feed.sync.synced  # a real gap: the book resyncs (a REST read is under way)
    assert feed.sync.buffered == 1
    tasks = feed.shutdown()
    assert [t.get_name() for t in tasks] == [f"woox-stream-book-read-{TOPIC}"]
    await asyncio.wait(tasks)


def test_a_rotation_given_up_keeps_the_old_connection() -> None:
    feed = synced_feed()
    statuses: list[Any] = []

    class Stream:
        ended = False

        def offer_status(self, event: Any) -> None:
            statuses.append(event.kind)

        def offer_book(self, event: Any) -> None:
            pass

        def fail(self, error: BaseException) -> None:
            pass

    feed.attach(Stream())  # type: ignore[arg-type]
    old, new = cast(Connection, object()), cast(Connection, object())
    handover = Handover(old, new, [TOPIC], "rotating")
    feed.begin_handover(handover)
    feed.on_push(push(2, 3, "3"), new)
    feed.end_handover(handover, completed=False)
    feed.on_push(push(1, 2, "2"), old)
    assert feed.sync.last_ts == 2
    assert statuses == [StatusKind.RECONNECTING, StatusKind.CONNECTED]
