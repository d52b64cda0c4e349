"""The channel registry: what the stream manager serves is exactly what the plugin declares."""

from __future__ import annotations

from woox_datasource.channels.registry import CHANNELS
from woox_datasource.manifest import MANIFEST


def test_the_manifest_lists_exactly_the_registered_channels() -> None:
    assert [channel.value for channel in CHANNELS] == list(MANIFEST.channels)
    assert all(spec.channel is channel for channel, spec in CHANNELS.items())
