"""The book's topics on one connection: ``orderbookupdate[rpi]@SYM@DEPTH``, ``bbo[rpi]@SYM`` and
``orderbook10@SYM``, each a :class:`ViewTape` of the symbol's book pulled up to the clock."""

from __future__ import annotations

from .book import BookModel
from .booktape import Levels, Publication, ViewTape, last_publication
from .feeds import Feed
from .units import fmt_decimal

TOP10_PERIOD_MS = 200


class _Writer:
    """Prices and sizes of one symbol's book as WOO X writes them."""

    def __init__(self, book: BookModel) -> None:
        self.symbol = book.symbol
        self.price_dp = book.model.profile.price_dp
        self.size_dp = book.model.profile.volume_dp

    def levels(self, levels: Levels) -> str:
        pdp, sdp = self.price_dp, self.size_dp
        return ",".join(f'["{fmt_decimal(p, pdp)}","{fmt_decimal(s, sdp)}"]' for p, s in levels)


class BookFeed(Feed):
    """``orderbookupdate@SYM@DEPTH`` (``orderbookupdaterpi`` with the RPI book): a delta at the
    end of every window of the depth's cadence in which the top-``depth`` view changed, chained
    by ``prevTs`` from the topic's previous delta (also the one before the subscription)."""

    kind = "book"

    def __init__(
        self, name: str, book: BookModel, rpi: bool, depth: int, period: int, now_ms: int
    ) -> None:
        self.name = name
        self.writer = _Writer(book)
        start = now_ms // period * period
        last = last_publication(book, rpi, depth, period, start)
        self.tape = ViewTape(book, rpi, depth, period, start, last)
        self.period = period
        self.next_due = self._due()

    def _due(self) -> int:
        first = self.tape.next_change_after(self.tape.t)
        return -(-first // self.period) * self.period

    def pull(self, now_ms: int) -> list[str]:
        out = [self.frame(p, now_ms) for p in self.tape.advance(now_ms)]
        self.next_due = self._due()
        return out

    def frame(self, p: Publication, send_ms: int) -> str:
        w = self.writer
        return (
            f'{{"topic":"{self.name}","ts":{send_ms},"data":{{"s":"{w.symbol}",'
            f'"prevTs":{p.prev_ts},"ts":{p.ts},"bids":[{w.levels(p.bids)}],'
            f'"asks":[{w.levels(p.asks)}]}}}}'
        )


class BboFeed(Feed):
    """``bbo@SYM`` (``bborpi`` with the RPI book): the touch, pushed at every millisecond it
    changes (nothing on subscribing; a client reads REST for the first value)."""

    kind = "bbo"

    def __init__(self, name: str, book: BookModel, rpi: bool, now_ms: int) -> None:
        self.name = name
        self.writer = _Writer(book)
        self.tape = ViewTape(book, rpi, 1, 0, now_ms, now_ms)
        self.next_due = self.tape.next_change_after(now_ms)

    def pull(self, now_ms: int) -> list[str]:
        w = self.writer
        out = []
        for p in self.tape.advance(now_ms):
            (bp, bq), (ap, aq) = p.view_bids[0], p.view_asks[0]
            pdp, sdp = w.price_dp, w.size_dp
            out.append(
                f'{{"topic":"{self.name}","ts":{now_ms},"data":{{"s":"{w.symbol}",'
                f'"ap":"{fmt_decimal(ap, pdp)}","aq":"{fmt_decimal(aq, sdp)}",'
                f'"bp":"{fmt_decimal(bp, pdp)}","bq":"{fmt_decimal(bq, sdp)}","ts":{p.ts}}}}}'
            )
        self.next_due = self.tape.next_change_after(self.tape.t)
        return out


class Top10Feed(Feed):
    """``orderbook10@SYM``: the RPI book's top 10 levels, a whole snapshot at the end of every
    200 ms window in which they changed, and one at the first window end after subscribing.
    ``data.ts`` is the time of the last change (so a snapshot can be older than its push)."""

    kind = "orderbook10"

    def __init__(self, name: str, book: BookModel, now_ms: int) -> None:
        self.name = name
        self.writer = _Writer(book)
        start = now_ms // TOP10_PERIOD_MS * TOP10_PERIOD_MS
        last = last_publication(book, True, 10, TOP10_PERIOD_MS, start)
        self.tape = ViewTape(book, True, 10, TOP10_PERIOD_MS, start, last)
        self.first_due = start + TOP10_PERIOD_MS
        self.next_due = self.first_due

    def pull(self, now_ms: int) -> list[str]:
        published = self.tape.advance(now_ms)
        out = [self.frame(p.ts, p.view_bids, p.view_asks, now_ms) for p in published]
        if self.first_due and not out:
            out.append(self.frame(self.tape.last_ts, self.tape.view(0), self.tape.view(1), now_ms))
        self.first_due = 0
        first = self.tape.next_change_after(self.tape.t)
        self.next_due = -(-first // TOP10_PERIOD_MS) * TOP10_PERIOD_MS
        return out[-1:]  # a snapshot replaces the previous one: only the newest matters

    def frame(self, ts: int, bids: Levels, asks: Levels, send_ms: int) -> str:
        w = self.writer
        return (
            f'{{"topic":"{self.name}","ts":{send_ms},"data":{{"s":"{w.symbol}","ts":{ts},'
            f'"bids":[{w.levels(bids)}],"asks":[{w.levels(asks)}]}}}}'
        )
