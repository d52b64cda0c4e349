"""Plugin discovery through real entry points of fake distributions written to a temp dir."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_stub.loader import Manifest, PluginLoadError, PluginRecord, discover, load_plugin
from host_stub.spec import hookimpl

TARGETS = ["https://api.example.com/*", "wss://stream.example.com/*"]

GOOD_HOOKS = """
from host_stub.spec import hookimpl

@hookimpl
def network_targets():
    return {targets!r}

@hookimpl
def supports_streaming():
    return False
"""


def _manifest_text(name: str, targets: list[str], version: str = "1.0") -> str:
    quoted = ", ".join(f'"{t}"' for t in targets)
    return textwrap.dedent(
        f"""
        id = "{name}"
        name = "{name}"
        version = "{version}"
        kind = "datasource"
        entry_point = "plusev.datasources:{name}"
        [network]
        targets = [{quoted}]
        [capabilities]
        streaming = false
        """
    )


def _fake_dist(
    root: Path,
    name: str,
    code: str,
    manifest: str | None,
    *,
    version: str = "1.0",
) -> None:
    package = root / f"fakeplug_{name}"
    package.mkdir()
    (package / "__init__.py").write_text(code, encoding="utf-8")
    if manifest is not None:
        (package / "manifest.toml").write_text(manifest, encoding="utf-8")
    info = root / f"fakeplug_{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fakeplug-{name}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[plusev.datasources]\n{name} = fakeplug_{name}\n", encoding="utf-8"
    )


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PluginRecord]]:
    root = tmp_path_factory.mktemp("plugins")
    good = GOOD_HOOKS.format(targets=TARGETS)
    _fake_dist(root, "good", good, _manifest_text("good", TARGETS))
    _fake_dist(
        root,
        "broken",
        "raise ImportError('boom: missing dependency')\n",
        _manifest_text("broken", TARGETS),
    )
    _fake_dist(
        root,
        "liar",
        GOOD_HOOKS.format(targets=["https://*.example.com/*"]),
        _manifest_text("liar", TARGETS),
    )
    _fake_dist(
        root,
        "typo",
        good + "\n@hookimpl\ndef fetch_histroy(session, request):\n    pass\n",
        _manifest_text("typo", TARGETS),
    )
    _fake_dist(root, "nomanifest", good, None)
    _fake_dist(root, "badtoml", good, "id = [unclosed\n")
    _fake_dist(root, "badpattern", good, _manifest_text("badpattern", ["https://user@api.x/*"]))
    _fake_dist(root, "oldversion", good, _manifest_text("oldversion", TARGETS, version="0.9"))
    sys.path.insert(0, str(root))
    try:
        yield {r.name: r for r in discover(path=[str(root)])}
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.startswith("fakeplug_")]:
            del sys.modules[module]


def test_good_plugin_loads_beside_broken_ones(records: dict[str, PluginRecord]) -> None:
    good = records["good"]
    assert good.loaded and good.error is None and good.plugin is not None
    assert good.plugin.call("network_targets") == TARGETS
    assert good.plugin.call("supports_streaming") is False
    assert good.distribution == "fakeplug-good 1.0"
    assert len(records) == 8


def test_import_error_is_reported_with_name_and_reason(records: dict[str, PluginRecord]) -> None:
    broken = records["broken"]
    assert not broken.loaded
    assert broken.error == "import failed: ImportError: boom: missing dependency"


def test_targets_differing_from_manifest_are_refused_naming_both(
    records: dict[str, PluginRecord],
) -> None:
    liar = records["liar"]
    assert not liar.loaded and liar.error is not None
    assert "differ from the manifest" in liar.error
    assert "https://*.example.com/*" in liar.error  # what the plugin said
    assert "https://api.example.com/*" in liar.error  # what the manifest declares


def test_misspelt_hook_is_an_error(records: dict[str, PluginRecord]) -> None:
    typo = records["typo"]
    assert not typo.loaded and typo.error is not None
    assert "fetch_histroy" in typo.error


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("nomanifest", "ships no manifest.toml"),
        ("badtoml", "is not valid TOML"),
        ("badpattern", "malformed network target"),
        ("oldversion", "manifest version '0.9' differs from the installed distribution"),
    ],
)
def test_bad_manifest_is_reported(records: dict[str, PluginRecord], name: str, reason: str) -> None:
    record = records[name]
    assert not record.loaded
    assert record.error is not None and reason in record.error


class _InProcess:
    @hookimpl
    def network_targets(self) -> list[str]:
        return list(reversed(TARGETS))


def test_fake_plugin_registered_in_process_order_of_targets_is_irrelevant() -> None:
    manifest = Manifest.parse(_manifest_text("inproc", TARGETS), source="inline")
    loaded = load_plugin("inproc", _InProcess(), manifest)
    assert loaded.policy.allows("https://api.example.com/v1/x")
    assert not loaded.policy.allows("https://other.example.com/v1/x")


def test_manifest_parse_names_missing_key() -> None:
    with pytest.raises(PluginLoadError, match="needs a non-empty string 'version'"):
        Manifest.parse('id = "x"\nname = "x"\nkind = "datasource"\n', source="m.toml")
    with pytest.raises(PluginLoadError, match="kind must be 'datasource'"):
        Manifest.parse(
            _manifest_text("x", TARGETS).replace('"datasource"', '"broker"'), source="m.toml"
        )


def test_real_plugin_is_discovered() -> None:
    woox = {r.name: r for r in discover()}["woox"]
    assert woox.loaded, woox.error
    assert woox.manifest is not None and woox.manifest.id == "woox-datasource"
