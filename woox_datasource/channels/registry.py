"""The channels the stream manager serves: one entry per channel, the only place they are listed.

Adding a channel: a module under ``woox_datasource/channels/`` with a
:class:`~woox_datasource.stream.channel.ChannelSpec` (topic, feed, stream), its spellings in
``woox_datasource/wire``, an entry here, and its name in ``manifest.toml``'s channels (a test
checks that the two lists agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from host_stub.spec import Channel
from woox_datasource.channels.book import BookChannel
from woox_datasource.channels.candles import CandleChannel
from woox_datasource.channels.latest import latest_channels
from woox_datasource.channels.trades import TradesChannel
from woox_datasource.stream.channel import ChannelSpec

_SPECS: Final[tuple[ChannelSpec, ...]] = (
    CandleChannel(),
    TradesChannel(),
    *latest_channels(),
    BookChannel(),
)

CHANNELS: Final[Mapping[Channel, ChannelSpec]] = {spec.channel: spec for spec in _SPECS}
"""Every channel served, in the order the manifest lists them."""
