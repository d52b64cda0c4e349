"""The terminal's view of a plugin's life: the settings form (``config_fields``) agrees with what
``configure`` accepts, and ``shutdown`` leaves no stream, task or socket behind."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_stub.loader import LoadedPlugin, Manifest, load_plugin
from host_stub.netpolicy import create_session
from host_stub.spec import (
    CandleEvent,
    ConfigField,
    ConfigType,
    InvalidRequest,
    StreamConfig,
    hookimpl,
)
from woox_datasource.plugin import WooXDatasource
from woox_datasource.simulator import WooXSimulator

LOOPBACK = ["http://127.0.0.1:*/*", "ws://127.0.0.1:*/*"]


def manifest() -> Manifest:
    text = files("woox_datasource").joinpath("manifest.toml").read_text(encoding="utf-8")
    return Manifest.parse(text, source="woox_datasource/manifest.toml")


def loaded(plugin: object | None = None) -> LoadedPlugin:
    """A fresh WOO X datasource behind the host's loader (its own PluginManager)."""
    return load_plugin("woox", plugin or WooXDatasource(), manifest())


def fields() -> dict[str, ConfigField]:
    return {f.name: f for f in loaded().config_fields()}


def accepted_names() -> list[str]:
    """What ``configure`` accepts, read from ``configure`` itself: its refusal of an unknown
    setting lists the known ones."""
    with pytest.raises(InvalidRequest) as info:
        loaded().call("configure", settings={"no_such_setting": "x"})
    match = re.search(r"known settings: (.*)$", str(info.value))
    assert match is not None
    return match.group(1).split(", ")


# ---- config_fields and configure ----------------------------------------------------------------


def test_the_form_lists_exactly_what_configure_accepts() -> None:
    form = fields()
    assert list(form) == accepted_names()
    for field in form.values():
        assert field.label and field.description
        assert (field.type is ConfigType.CHOICE) == bool(field.choices)
        assert not field.secret  # public market data needs no key
        plugin = loaded()
        # every default and every choice the form offers is accepted, one field at a time ...
        for value in [v for v in (field.default, *field.choices) if v is not None]:
            plugin.call("configure", settings={field.name: value})
        # ... an empty field means "not set" ...
        plugin.call("configure", settings={field.name: ""})
        # ... and nonsense is refused naming the field.
        with pytest.raises(InvalidRequest, match=f"setting '{field.name}'"):
            plugin.call("configure", settings={field.name: "not a value"})


def test_the_forms_defaults_are_configures_defaults() -> None:
    defaults = {f.name: f.default for f in fields().values() if f.default is not None}
    explicit, implicit = WooXDatasource(), WooXDatasource()
    explicit.configure(settings=defaults)
    implicit.configure(settings={})
    assert explicit.settings == implicit.settings


@given(name=st.text(min_size=1, max_size=20))
def test_a_name_outside_the_form_is_refused(name: str) -> None:
    plugin = WooXDatasource()
    if name in {f.name for f in plugin.config_fields()}:
        return
    with pytest.raises(InvalidRequest, match="unknown setting"):
        plugin.configure(settings={name: "1"})


def test_a_plugin_without_the_optional_hooks_is_tolerated() -> None:
    class Bare:
        @hookimpl
        def network_targets(self) -> list[str]:
            return list(manifest().network_targets)

    plugin = loaded(Bare())
    assert plugin.config_fields() == []
    asyncio.run(plugin.shutdown())  # nothing to stop, nothing raised


def plugin_side_tasks() -> list[asyncio.Task[object]]:
    """Tasks other than this test's and the simulator's (its server runs on the same loop)."""
    server = ("/aiohttp/web_", "/woox_datasource/simulator/")
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not any(part in t.get_coro().cr_code.co_filename for part in server)  # type: ignore[union-attr]
    ]


# ---- shutdown -----------------------------------------------------------------------------------


async def test_shutdown_stops_every_stream_and_leaves_nothing_behind() -> None:
    datasource = WooXDatasource()
    plugin = loaded(datasource)
    async with WooXSimulator(speed=60.0) as sim:
        plugin.call("configure", settings={"rest_url": sim.rest_url, "ws_url": sim.ws_url})
        session = create_session(plugin.policy.extended(LOOPBACK))
        try:
            for _round in range(2):  # a plugin that was shut down serves again, afresh
                configs = [StreamConfig("SPOT_BTC_USDT", 60), StreamConfig("PERP_ETH_USDT", 60),
                           StreamConfig("SPOT_ETH_USDT", 60, backfill_from=sim.clock.now_ms() - 3_600_000)]  # fmt: skip # noqa: E501
                streams = [await plugin.call("start_stream", session=session, config=c) for c in configs]  # fmt: skip # noqa: E501
                for stream in streams:  # each is live: a candle arrived
                    async with asyncio.timeout(20):
                        async for event in stream:
                            if isinstance(event, CandleEvent):
                                break
                assert sim.active_connections >= 1
                await plugin.shutdown()
                for stream in streams:  # every iteration has ended
                    async with asyncio.timeout(5):
                        async for _ in stream:
                            pass
                assert plugin_side_tasks() == []
                async with asyncio.timeout(5):
                    while sim.active_connections:  # noqa: ASYNC110 - the server saw every close
                        await asyncio.sleep(0.01)
                for stream in streams:  # stopping what shutdown stopped is harmless
                    await plugin.call("stop_stream", stream_id=stream.id)
        finally:
            await session.close()


async def test_shutdown_before_any_stream_and_twice_is_harmless() -> None:
    plugin = loaded()
    await plugin.shutdown()
    await plugin.shutdown()
    assert asyncio.all_tasks() == {asyncio.current_task()}
