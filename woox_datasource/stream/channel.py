"""How a channel plugs into the connection layer: a :class:`ChannelSpec` per channel.

The stream manager turns a :class:`~host_stub.spec.StreamConfig` into a subscribed topic and a
stream without knowing any channel: it asks the config's channel for the topic (one WOO X topic
string: streams asking for the same one share it, and with it one feed), for a new feed when the
session has none for that topic yet, and for the consumer's stream. Adding a channel is a module
under ``woox_datasource/channels/`` with a spec, its wire spellings in ``woox_datasource/wire``,
and one line in ``woox_datasource/channels/registry.py``.
"""

from __future__ import annotations

import abc
from typing import Any

from host_stub.spec import Channel, StreamConfig
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.live import LiveStream, StreamEnv


class ChannelSpec(abc.ABC):
    """One channel's answers to the stream manager (stateless; one instance per channel)."""

    channel: Channel
    """The channel served (a class attribute, or set per instance)."""

    @abc.abstractmethod
    def topic(self, symbol: str, config: StreamConfig) -> str:
        """The topic that serves ``config`` for ``symbol`` (already normalized and checked
        against the channel's market kinds); InvalidRequest for anything else wrong."""

    def label(self, symbol: str, config: StreamConfig) -> str:
        """What a stream id says about the stream (``SPOT_BTC_USDT-bbo``)."""
        return f"{symbol}-{config.channel}"

    @abc.abstractmethod
    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> Feed[Any]:
        """The feed of ``topic`` for a session that has none yet (``config``: the first
        stream's; what the topic means is the same for every stream sharing it)."""

    @abc.abstractmethod
    def new_stream(
        self, stream_id: str, symbol: str, config: StreamConfig, env: StreamEnv
    ) -> LiveStream:
        """The consumer's stream; it is then attached to its feed (``LiveStream.attached``)."""
