"""The trades channel: ``trade@SYMBOL``, every trade once, in exchange-time order, across drops.

Its parts: :mod:`.trades_sync` (the pure reconciliation: sockets, REST pages, the frontier
millisecond completed as a multiset, exact gap bounds), :mod:`.trades_cover` and
:mod:`.trades_reads` (what a REST page proves, which read helps next), :mod:`.trades_rest`
(those reads on the wire, through the shared budget), :mod:`.trades_feed` (one topic: decoding,
the sync, fan-out, the rotation seam), :mod:`.trades_stream` (the consumer's side: backfill, and
a slow consumer's loss counted and reported by :mod:`.trades_overflow`).
"""

from __future__ import annotations

from host_stub.spec import Channel, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.trades_feed import TradesFeed
from woox_datasource.channels.trades_stream import TradesStream
from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.feed import FeedHost
from woox_datasource.stream.live import StreamEnv


class TradesChannel(ChannelSpec):
    channel = Channel.TRADES

    def topic(self, symbol: str, config: StreamConfig) -> str:
        return wire.trade_topic(symbol)

    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> TradesFeed:
        return TradesFeed(host, topic, wire.normalize_symbol(config.symbol))

    def new_stream(
        self, stream_id: str, symbol: str, config: StreamConfig, env: StreamEnv
    ) -> TradesStream:
        return TradesStream(stream_id, symbol=symbol, config=config, env=env)
