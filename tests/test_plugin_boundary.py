"""The plugin checks what a host hands it: a third-party host with records of its own (not the
contract's attrs classes) gets an InvalidRequest naming the field for anything that is not a
valid request, never zero rows or an AttributeError from deep inside."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import attrs
import pluggy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_stub import spec
from host_stub.spec import HistoryRequest, InvalidRequest, StreamConfig
from woox_datasource.boundary import checked
from woox_datasource.plugin import WooXDatasource
from woox_datasource.simulator import WooXSimulator

HOUR_MS = 3_600_000


@dataclasses.dataclass
class HostRequest:
    """What a host written from the README might pass: its own record, same attribute names."""

    symbol: Any
    interval: Any
    start: Any
    end: Any
    limit: Any = None


@dataclasses.dataclass
class HostConfigV1:
    """A contract v1 host's own config: no backfill_from, no channel, depth or rpi."""

    symbol: str
    interval: int


@dataclasses.dataclass
class HostConfigMisspelt:
    symbol: str
    interval: int
    backfil_from: int


class ThirdPartyHost:
    """Nothing but pluggy and the spec, as the README's 'another host' section shows."""

    def __init__(self, sim: WooXSimulator, session: aiohttp.ClientSession) -> None:
        self.pm = pluggy.PluginManager(spec.PROJECT_NAME)
        self.pm.add_hookspecs(spec)
        self.plugin = WooXDatasource()
        self.pm.register(self.plugin)
        self.pm.hook.configure(settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        self.session = session

    async def history(self, request: object) -> list[Any]:
        (batches,) = self.pm.hook.fetch_history(session=self.session, request=request)
        assert isinstance(batches, AsyncIterator)
        return [candle async for batch in batches for candle in batch]

    async def start(self, config: object) -> Any:
        (started,) = self.pm.hook.start_stream(session=self.session, config=config)
        return await started


async def test_a_hosts_own_valid_record_is_served_like_the_contracts() -> None:
    async with WooXSimulator() as sim, aiohttp.ClientSession() as session:
        host = ThirdPartyHost(sim, session)
        end = sim.clock.now_ms() // HOUR_MS * HOUR_MS
        ours = await host.history(HostRequest("SPOT_BTC_USDT", 3600, end - 24 * HOUR_MS, end))
        theirs = await host.history(HistoryRequest("SPOT_BTC_USDT", 3600, end - 24 * HOUR_MS, end))
        assert len(ours) == 24 and ours == theirs


@pytest.mark.parametrize(
    ("request_", "names"),
    [
        (HostRequest("SPOT_BTC_USDT", 3600, 1_704_153_600_000, 1_704_067_200_000), "reversed"),
        (HostRequest("SPOT_BTC_USDT", 3600, 1_704_067_200, 1_704_153_600), "start 1704067200"),
        (HostRequest("SPOT_BTC_USDT", 3600.0, 1_704_067_200_000, 1_704_153_600_000), "interval"),
        (HostRequest("SPOT_BTC_USDT", "1h", 1_704_067_200_000, 1_704_153_600_000), "interval"),
        (HostRequest("SPOT_BTC_USDT", 3600, "2024-01-01", 1_704_153_600_000), "start"),
        (HostRequest(None, 3600, 1_704_067_200_000, 1_704_153_600_000), "symbol"),
        (
            SimpleNamespace(symbol="SPOT_BTC_USDT", interval=3600, start=1_704_067_200_000),
            "start",
        ),
    ],
)
async def test_a_bad_history_request_is_invalid_and_names_the_field(
    request_: object, names: str
) -> None:
    async with WooXSimulator() as sim, aiohttp.ClientSession() as session:
        host = ThirdPartyHost(sim, session)
        with pytest.raises(InvalidRequest, match=names):
            await host.history(request_)
        assert not sim.requests  # refused before anything was asked of the exchange


async def test_a_v1_config_streams_candles_and_a_misspelt_field_is_named() -> None:
    async with WooXSimulator() as sim, aiohttp.ClientSession() as session:
        host = ThirdPartyHost(sim, session)
        stream = await host.start(HostConfigV1("SPOT_BTC_USDT", 60))
        assert stream.config == StreamConfig("SPOT_BTC_USDT", 60)
        await host.plugin.stop_stream(stream.id)
        with pytest.raises(InvalidRequest, match="'backfil_from' but no 'backfill_from'"):
            await host.start(HostConfigMisspelt("SPOT_BTC_USDT", 60, 1_704_067_200_000))
        seconds = {**vars(HostConfigV1("SPOT_BTC_USDT", 60)), "backfill_from": 1704067200}
        with pytest.raises(InvalidRequest, match="backfill_from 1704067200 looks like epoch sec"):
            await host.start(SimpleNamespace(**seconds))
        await host.plugin.aclose()


def test_the_contracts_own_classes_refuse_seconds_too() -> None:
    with pytest.raises(InvalidRequest, match="end 1704153600 looks like epoch seconds"):
        HistoryRequest("SPOT_BTC_USDT", 3600, 1_704_067_200_000, 1_704_153_600)
    with pytest.raises(InvalidRequest, match=r"epoch milliseconds \(an integer\), got float"):
        StreamConfig("SPOT_BTC_USDT", 60, backfill_from=1.5e12)  # type: ignore[arg-type]


# -- the check follows the contract's field list, whatever it grows into -----------------------


class Channel(enum.StrEnum):
    CANDLES = "candles"
    TRADES = "trades"


def _positive(_: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value <= 0:
        raise InvalidRequest(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class FutureConfig:
    """A stand-in for a later contract version: more fields, a converter, an enum, a
    validator of its own."""

    symbol: str
    interval: int | None = None
    channel: Channel = attrs.field(default=Channel.CANDLES, converter=Channel)
    depth: int | None = attrs.field(default=None, validator=_positive)


def test_new_fields_are_checked_from_the_classes_own_definition() -> None:
    given_ = SimpleNamespace(symbol="SPOT_BTC_USDT", interval=None, channel="trades", depth=None)
    assert checked(FutureConfig, given_, "config") == FutureConfig(
        "SPOT_BTC_USDT", None, Channel.TRADES
    )
    assert checked(FutureConfig, SimpleNamespace(symbol="X", interval=60), "config") == (
        FutureConfig("X", 60)
    )  # fields a host predates take their defaults
    with pytest.raises(InvalidRequest, match="no 'symbol' attribute"):
        checked(FutureConfig, SimpleNamespace(interval=60, channel="trades"), "config")
    with pytest.raises(InvalidRequest, match="depth must be positive"):
        checked(FutureConfig, SimpleNamespace(**{**vars(given_), "depth": -5}), "config")
    with pytest.raises(InvalidRequest, match=r"config.depth must be int or None, got str '50'"):
        checked(FutureConfig, SimpleNamespace(**{**vars(given_), "depth": "50"}), "config")
    with pytest.raises(InvalidRequest, match=r"not a valid FutureConfig.*'book' is not a valid"):
        checked(FutureConfig, SimpleNamespace(**{**vars(given_), "channel": "book"}), "config")


_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.just("SPOT_BTC_USDT"),
    st.integers(min_value=1_500_000_000_000, max_value=1_900_000_000_000),
    st.sampled_from([60, 3600, 86_400, 2_592_000]),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy machine
@given(st.dictionaries(st.sampled_from(["symbol", "interval", "start", "end", "limit"]), _ANYTHING))
def test_any_object_is_either_a_valid_request_or_an_invalid_request(fields: dict[str, Any]) -> None:
    try:
        result = checked(HistoryRequest, SimpleNamespace(**fields), "request")
    except InvalidRequest:
        return
    assert type(result) is HistoryRequest and type(result.interval) is int
    if result.start is not None and result.end is not None:
        assert result.start < result.end
