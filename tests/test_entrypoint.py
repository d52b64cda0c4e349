"""The plugin as a third-party host sees it: nothing but importlib.metadata and pluggy."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pluggy

import woox_datasource
from host_stub import spec
from woox_datasource.plugin import WooXDatasource

ROOT = Path(__file__).resolve().parent.parent


def _manifest() -> dict[str, object]:
    return tomllib.loads((ROOT / "manifest.toml").read_text(encoding="utf-8"))


def test_third_party_host_loads_plugin_with_pluggy_alone() -> None:
    pm = pluggy.PluginManager("plusev.datasource")
    loaded = pm.load_setuptools_entrypoints("plusev.datasources", name="woox")
    assert loaded == 1
    manifest = _manifest()
    network = manifest["network"]
    assert isinstance(network, dict)
    assert pm.hook.network_targets() == [network["targets"]]
    assert pm.hook.supports_streaming() == [True]


def test_entry_point_names_the_plugin_instance() -> None:
    eps = importlib.metadata.entry_points(group=spec.ENTRY_POINT_GROUP, name="woox")
    (ep,) = eps
    assert isinstance(ep.load(), WooXDatasource)


def test_version_has_one_source() -> None:
    manifest = _manifest()
    assert woox_datasource.__version__ == manifest["version"]
    assert importlib.metadata.version("woox-datasource") == manifest["version"]
    info = WooXDatasource().datasource_info()
    assert info.version == manifest["version"]
    assert info.id == manifest["id"] == "woox-datasource"


def test_top_level_manifest_is_the_packaged_one() -> None:
    packaged = ROOT / "woox_datasource" / "manifest.toml"
    assert (ROOT / "manifest.toml").read_bytes() == packaged.read_bytes()
    manifest = _manifest()
    assert manifest["kind"] == "datasource"
    assert manifest["entry_point"] == "plusev.datasources:woox"


def test_every_hook_is_a_spec_hook_and_no_async_hook_is_firstresult() -> None:
    pm = pluggy.PluginManager(spec.PROJECT_NAME)
    pm.add_hookspecs(spec)
    pm.register(WooXDatasource(), name="woox")
    pm.check_pending()  # raises on any hookimpl without a spec (a misspelt hook)
    for name in ("list_markets", "fetch_history", "start_stream", "stop_stream"):
        caller = getattr(pm.hook, name)
        assert caller.spec is not None
        assert not caller.spec.opts.get("firstresult"), name
        assert caller.spec.function.__doc__, name
