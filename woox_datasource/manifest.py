"""The plugin's own view of its ``manifest.toml`` (shipped inside the package)."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import attrs


@attrs.frozen
class PluginManifest:
    id: str
    name: str
    version: str
    kind: str
    entry_point: str
    network_targets: tuple[str, ...]
    streaming: bool
    channels: tuple[str, ...]
    """The live channels the plugin serves, as declared to hosts."""


def load_manifest() -> PluginManifest:
    """Read the manifest that ships in this package, so that the hooks report exactly what the
    host checks (a drift between the two is a load error in the host)."""
    raw = tomllib.loads(files(__package__).joinpath("manifest.toml").read_text(encoding="utf-8"))
    return PluginManifest(
        id=raw["id"],
        name=raw["name"],
        version=raw["version"],
        kind=raw["kind"],
        entry_point=raw["entry_point"],
        network_targets=tuple(raw["network"]["targets"]),
        streaming=bool(raw["capabilities"]["streaming"]),
        channels=tuple(raw["capabilities"]["channels"]),
    )


MANIFEST = load_manifest()
