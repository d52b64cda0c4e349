"""The candle channel: ``kline@SYMBOL@TYPE`` topics, final exactly once, gapless, bounded.

Its parts: :mod:`.candle_tracker` (finality and continuity, pure), :mod:`.candle_feed` (one
topic: decoding, gap fills, fan-out, the rotation seam), :mod:`.candle_stream` (the consumer's
side: conflation, backfill and catch-up) and :mod:`.candle_history` (REST reads for fills).
"""

from __future__ import annotations

from host_stub.spec import Channel, StreamConfig
from woox_datasource import wire
from woox_datasource.channels.candle_feed import CandleFeed
from woox_datasource.channels.candle_stream import CandleStream
from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.feed import FeedHost
from woox_datasource.stream.live import StreamEnv
from woox_datasource.timeframes import Timeframe, for_live


def _timeframe(config: StreamConfig) -> Timeframe:
    assert config.interval is not None  # (StreamConfig requires it for candles)
    return for_live(config.interval)


class CandleChannel(ChannelSpec):
    channel = Channel.CANDLES

    def topic(self, symbol: str, config: StreamConfig) -> str:
        return wire.kline_topic(symbol, _timeframe(config).ws_type or "")

    def label(self, symbol: str, config: StreamConfig) -> str:
        return f"{symbol}-{_timeframe(config).label}"

    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> CandleFeed:
        return CandleFeed(host, topic, wire.normalize_symbol(config.symbol), _timeframe(config))

    def new_stream(
        self, stream_id: str, symbol: str, config: StreamConfig, env: StreamEnv
    ) -> CandleStream:
        return CandleStream(stream_id, symbol=symbol, tf=_timeframe(config), config=config, env=env)
