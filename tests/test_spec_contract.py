"""Contract v2 (host_stub/spec.py): channels, StreamConfig validated per channel, the declared
channels of the plugin, and the event records."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from host_stub import spec
from host_stub.loader import Manifest, PluginLoadError
from host_stub.spec import (
    BookEvent,
    Channel,
    InvalidRequest,
    MarketKind,
    StatusEvent,
    StatusKind,
    StreamConfig,
)
from woox_datasource.channels.registry import CHANNELS
from woox_datasource.plugin import WooXDatasource
from woox_datasource.rest import RestClient
from woox_datasource.rest.budget import RateBudget
from woox_datasource.simulator import WooXSimulator
from woox_datasource.stream.manager import StreamManager

ROOT = Path(__file__).resolve().parent.parent
BTC = "SPOT_BTC_USDT"


def test_interval_alone_still_means_candles() -> None:
    config = StreamConfig(BTC, 60)
    assert config.channel is Channel.CANDLES
    assert (config.interval, config.depth, config.rpi) == (60, None, False)
    assert StreamConfig(BTC, 60, backfill_from=0, finals_only=True).finals_only


def test_channel_accepts_its_name_as_text() -> None:
    assert StreamConfig(BTC, channel="trades").channel is Channel.TRADES
    with pytest.raises(InvalidRequest, match=r"unknown channel 'tape'.*candles, trades, bbo"):
        StreamConfig(BTC, channel="tape")


def test_book_depth_defaults_to_50_and_takes_only_50_200_500() -> None:
    assert StreamConfig(BTC, channel=Channel.BOOK).depth == 50
    assert StreamConfig(BTC, channel=Channel.BOOK, depth=500, rpi=True).depth == 500
    with pytest.raises(InvalidRequest, match=r"depth=20 .*accepts 50, 200, 500"):
        StreamConfig(BTC, channel=Channel.BOOK, depth=20)
    with pytest.raises(InvalidRequest, match=r"depth=True"):
        StreamConfig(BTC, channel=Channel.BOOK, depth=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": Channel.TRADES, "interval": 60}, r"interval=60 does not apply to the trades "
         r"channel: only candles takes interval"),
        ({"channel": Channel.BBO, "depth": 50}, r"depth=50 does not apply to the bbo channel: "
         r"only book takes depth"),
        ({"channel": Channel.TICKER, "rpi": True}, r"rpi=True does not apply to the ticker "
         r"channel: only bbo and book take rpi"),
        ({"channel": Channel.CANDLES, "interval": 60, "rpi": True}, r"only bbo and book take rpi"),
        ({"channel": Channel.BOOK, "backfill_from": 5}, r"backfill_from=5 does not apply to the "
         r"book channel: only candles and trades take backfill_from"),
        ({"channel": Channel.TRADES, "finals_only": True}, r"only candles takes finals_only"),
        ({"channel": Channel.FUNDING, "depth": 200}, r"does not apply to the funding channel"),
        ({}, r"candles channel needs an interval"),
        ({"interval": 59}, r"interval must be integer seconds between 60 and 31536000, got 59"),
        ({"interval": "60"}, r"integer seconds.*got '60'"),
        ({"interval": 60, "backfill_from": -1}, r"backfill_from must be epoch milliseconds"),
        ({"channel": Channel.TRADES, "backfill_from": 1.5}, r"backfill_from must be epoch"),
        ({"channel": Channel.BBO, "rpi": "yes"}, r"rpi must be True or False"),
    ],
)  # fmt: skip
def test_wrong_combinations_name_the_field_and_what_the_channel_accepts(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        StreamConfig(BTC, **kwargs)


def test_every_channel_has_a_valid_minimal_config() -> None:
    for channel in Channel:
        interval = 60 if channel is Channel.CANDLES else None
        assert StreamConfig(BTC, interval, channel=channel).channel is channel


def test_status_event_keeps_its_v1_shape_and_names_its_channel() -> None:
    old = StatusEvent(StatusKind.CONNECTED, BTC, 60)
    assert (old.channel, old.interval) == (Channel.CANDLES, 60)
    stale = StatusEvent(StatusKind.STALE, BTC, reason="silent", channel=Channel.OPEN_INTEREST)
    assert stale.interval is None
    assert {StatusKind.RESYNCED.value, StatusKind.STALE.value} <= {k.value for k in StatusKind}


def test_event_records_are_frozen_and_slotted() -> None:
    records = [
        spec.TradeEvent, spec.Trade, spec.QuoteEvent, spec.TickerEvent, spec.PriceEvent,
        spec.FundingEvent, spec.OpenInterestEvent, spec.BookEvent, spec.StatusEvent,
        spec.ChannelInfo, spec.StreamConfig,
    ]  # fmt: skip
    for record in records:
        assert attrs.has(record)
        assert "__slots__" in record.__dict__, record
    trade = spec.Trade(BTC, 1, Decimal("1.5"), Decimal("2"), spec.Side.BUY)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        trade.price = Decimal(1)  # type: ignore[misc]
    assert not trade.external
    assert spec.Side("sell") is spec.Side.SELL


def test_plugin_declares_the_channels_of_its_manifest() -> None:
    manifest = tomllib.loads((ROOT / "manifest.toml").read_text(encoding="utf-8"))
    info = WooXDatasource().datasource_info()
    declared = [c.channel.value for c in info.channels]
    assert declared == manifest["capabilities"]["channels"]
    assert "candles" in declared
    candles = next(c for c in info.channels if c.channel is Channel.CANDLES)
    assert set(candles.kinds) == {MarketKind.SPOT, MarketKind.PERP}
    assert candles.backfill
    host_view = Manifest.parse((ROOT / "manifest.toml").read_text(encoding="utf-8"), source="m")
    assert [c.value for c in host_view.channels] == declared


def test_every_channel_of_the_contract_is_declared_and_has_a_registered_implementation() -> None:
    declared = {c.channel for c in WooXDatasource().datasource_info().channels}
    assert declared == set(Channel) == set(CHANNELS)


async def test_a_channel_the_manager_was_not_given_is_refused_before_anything_is_opened() -> None:
    # The plugin hands its manager the manifest's channels only: one left out of the manifest
    # is refused by name, with nothing connected.
    async with WooXSimulator() as sim, aiohttp.ClientSession() as session:
        manager = StreamManager(
            sim.ws_url,
            lambda s: RestClient(s, sim.rest_url, budget=RateBudget(max_requests=10)),
            channels={Channel.CANDLES: CHANNELS[Channel.CANDLES]},
        )
        try:
            for channel in (Channel.TRADES, Channel.BBO):
                config = StreamConfig(BTC, channel=channel)
                with pytest.raises(InvalidRequest, match=rf"the {channel} channel is not served"):
                    await manager.start(session, config)
            assert manager.connections == 0 and sim.connections_opened == 0
        finally:
            await manager.aclose()


def _manifest(capabilities: str) -> str:
    return textwrap.dedent(
        """
        id = "x"
        name = "x"
        version = "1"
        kind = "datasource"
        entry_point = "plusev.datasources:x"
        [network]
        targets = []
        [capabilities]
        """
    ) + textwrap.dedent(capabilities)


def test_host_reads_declared_channels_and_refuses_unknown_ones() -> None:
    good = Manifest.parse(_manifest('streaming = true\nchannels = ["candles", "book"]'), source="m")
    assert good.channels == (Channel.CANDLES, Channel.BOOK)
    assert good.capabilities == {"streaming": True}
    assert Manifest.parse(_manifest("streaming = true"), source="m").channels == ()
    with pytest.raises(PluginLoadError, match=r"unknown channel\(s\) \['tape'\]"):
        Manifest.parse(_manifest('channels = ["tape"]'), source="m")
    with pytest.raises(PluginLoadError, match=r"channels must be a list"):
        Manifest.parse(_manifest('channels = "candles"'), source="m")


def test_spec_imports_with_pluggy_and_attrs_only() -> None:
    """A third-party host vendors spec.py: it must not pull in aiohttp or the project."""
    code = textwrap.dedent(
        """
        import sys
        import host_stub.spec as spec
        book = spec.OrderBook()
        book.apply(spec.BookEvent("S", 50, 1, True, ((spec.Decimal("1"), spec.Decimal("2")),), ()))
        heavy = {"aiohttp", "woox_datasource", "msgspec", "orjson"} & set(sys.modules)
        assert not heavy, heavy
        assert book.best_bid == (1, 2)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_book_event_levels_are_price_size_pairs() -> None:
    event = BookEvent(BTC, 50, 7, False, ((Decimal("1"), Decimal("0")),), ())
    assert event.bids[0][1] == 0
