"""The book channel: WOO X's order book, exact, for ``StreamConfig(symbol, channel=BOOK, ...)``.

``depth`` 50, 200 or 500 (``rpi`` for the book with Retail Price Improvement orders) is the
incremental book: ``orderbookupdate[rpi]@SYM@DEPTH`` kept exact by the ``prevTs`` chain
(:mod:`.book_sync`, :mod:`.book_feed`). ``depth=10, rpi=True`` is WOO X's pushed top-10 book,
``orderbook10@SYM``: a snapshot every 200 ms, with RPI orders as far as anyone has seen, so it is
asked for as the RPI book it is and never mixed with the plain one. Consumers apply either with
:class:`host_stub.spec.OrderBook`; a slow one gets merged events (:mod:`.book_stream`).
"""

from __future__ import annotations

from host_stub.spec import BOOK_TOP_DEPTH, Channel, InvalidRequest, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.book_feed import BookFeed, TopBookFeed
from woox_datasource.channels.book_stream import BookStream
from woox_datasource.channels.book_sync import BookSyncOptions
from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.live import StreamEnv


def _depth(config: StreamConfig) -> int:
    assert config.depth is not None  # (StreamConfig fills in the default for the book)
    return config.depth


class BookChannel(ChannelSpec):
    channel = Channel.BOOK

    def __init__(self, options: BookSyncOptions | None = None) -> None:
        self.options = options or BookSyncOptions()

    def topic(self, symbol: str, config: StreamConfig) -> str:
        depth = _depth(config)
        if depth == BOOK_TOP_DEPTH:
            if not config.rpi:
                raise InvalidRequest(
                    f"depth={BOOK_TOP_DEPTH} is WOO X's pushed top-10 book (orderbook10), which "
                    "includes RPI orders as far as anyone has seen: ask for it with rpi=True; the "
                    "plain book has depth 50, 200 or 500"
                )
            return wire.book10_topic(symbol)
        return wire.book_topic(symbol, depth, rpi=config.rpi)

    def label(self, symbol: str, config: StreamConfig) -> str:
        return f"{symbol}-book{_depth(config)}{'rpi' if config.rpi else ''}"

    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> Feed[BookStream]:
        symbol = wire.normalize_symbol(config.symbol)
        depth = _depth(config)
        if depth == BOOK_TOP_DEPTH:
            return TopBookFeed(host, topic, symbol)
        return BookFeed(host, topic, symbol, depth, config.rpi, self.options)

    def new_stream(
        self, stream_id: str, symbol: str, config: StreamConfig, env: StreamEnv
    ) -> BookStream:
        return BookStream(stream_id, symbol=symbol, config=config, env=env)
