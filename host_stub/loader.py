"""Plugin discovery and loading: entry points in, checked plugins out.

Each plugin gets a PluginManager of its own, so hook calls are never merged across plugins and a
call returns a one-element list. A plugin is loaded only after its manifest has been read (without
running any of its code), its declared network targets parsed, its hooks checked against the spec,
and its ``network_targets()`` compared with the manifest. One broken plugin is reported with its
name and reason and never stops the others.

A host's duties over a plugin's life, in order (``woox-host`` does each of them):

1. ``config_fields()`` describes the settings form; ``configure(settings)`` applies the values.
2. Hand the async hooks a session from :func:`host_stub.netpolicy.create_session`.
3. Before unloading the plugin or exiting, ``await shutdown()`` while that session is still open:
   it stops every stream and releases every connection and task the plugin holds. Only then close
   the session. A host that skips it leaves WebSockets open and tasks pending at exit.
   :meth:`LoadedPlugin.shutdown` does this, and tolerates a plugin that does not implement it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from host_stub import spec
from host_stub.netpolicy import InvalidPattern, NetworkPolicy


class PluginLoadError(Exception):
    """Why a discovered plugin could not be loaded."""


@attrs.frozen
class Manifest:
    """The parts of a plugin's ``manifest.toml`` the host relies on."""

    id: str
    name: str
    version: str
    kind: str
    entry_point: str
    network_targets: tuple[str, ...]
    capabilities: dict[str, bool] = attrs.field(eq=False)
    channels: tuple[spec.Channel, ...] = ()
    """The live channels the plugin declares (``[capabilities] channels``)."""

    @classmethod
    def parse(cls, text: str, *, source: str) -> Manifest:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PluginLoadError(f"{source} is not valid TOML: {exc}") from None
        fields: dict[str, str] = {}
        for key in ("id", "name", "version", "kind", "entry_point"):
            value = raw.get(key)
            if not isinstance(value, str) or not value:
                raise PluginLoadError(f"{source} needs a non-empty string {key!r}")
            fields[key] = value
        if fields["kind"] != "datasource":
            raise PluginLoadError(f"{source}: kind must be 'datasource', got {fields['kind']!r}")
        network = raw.get("network")
        targets = network.get("targets") if isinstance(network, dict) else None
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise PluginLoadError(f"{source} needs [network] targets as a list of URL patterns")
        capabilities = raw.get("capabilities", {})
        if not isinstance(capabilities, dict):
            raise PluginLoadError(f"{source}: [capabilities] must be a table")
        capabilities = dict(capabilities)
        channels = _channels(capabilities.pop("channels", []), source)
        if not all(isinstance(v, bool) for v in capabilities.values()):
            raise PluginLoadError(
                f"{source}: [capabilities] must map names to true/false (and channels to a list)"
            )
        return cls(
            **fields,
            network_targets=tuple(targets),
            capabilities=capabilities,
            channels=channels,
        )


def _channels(value: object, source: str) -> tuple[spec.Channel, ...]:
    known = ", ".join(spec.Channel)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PluginLoadError(f"{source}: [capabilities] channels must be a list of: {known}")
    names = {c.value for c in spec.Channel}
    unknown = [v for v in value if v not in names]
    if unknown:
        raise PluginLoadError(f"{source}: unknown channel(s) {unknown!r}; channels are: {known}")
    return tuple(spec.Channel(v) for v in value)


@attrs.frozen
class PluginRecord:
    """One discovered entry point and what became of it. ``plugin`` is set when it loaded."""

    name: str
    value: str
    distribution: str
    manifest: Manifest | None = None
    plugin: LoadedPlugin | None = None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.plugin is not None


@attrs.frozen
class LoadedPlugin:
    """A plugin ready to call: its own PluginManager, manifest, and network policy."""

    name: str
    manager: pluggy.PluginManager
    manifest: Manifest
    policy: NetworkPolicy

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call one hook of this plugin and return its single result (an awaitable or async
        iterator for the async hooks). Arguments are keywords, as pluggy requires."""
        return _call_one(self.manager, hook, **kwargs)

    def implements(self, hook: str) -> bool:
        """Whether the plugin implements ``hook`` (the optional ones may be missing)."""
        return bool(getattr(self.manager.hook, hook).get_hookimpls())

    def config_fields(self) -> list[spec.ConfigField]:
        """The settings the plugin accepts, for a settings form (none if it declares none)."""
        if not self.implements("config_fields"):
            return []
        fields = self.call("config_fields")
        if not isinstance(fields, list) or not all(isinstance(f, spec.ConfigField) for f in fields):
            raise PluginLoadError(f"config_fields() of {self.name!r} must return ConfigFields")
        return fields

    async def shutdown(self) -> None:
        """Stop everything the plugin runs (its ``shutdown`` hook, if it has one). Call it
        before closing the sessions handed to the plugin, and before unloading it."""
        if self.implements("shutdown"):
            await self.call("shutdown")


def discover(
    group: str = spec.ENTRY_POINT_GROUP, *, path: Sequence[str] | None = None
) -> list[PluginRecord]:
    """Find every entry point in ``group`` and load each plugin in isolation.

    ``path`` limits the search to those directories (as ``sys.path`` entries); by default the
    whole environment is searched, as pluggy's own ``load_setuptools_entrypoints`` does."""
    dists = importlib.metadata.distributions(path=list(path)) if path is not None else None
    records: list[PluginRecord] = []
    seen: set[str] = set()
    for dist, ep in _entry_points(group, dists):
        if ep.name in seen:
            records.append(_failed(ep, dist, f"a plugin named {ep.name!r} is already loaded"))
            continue
        seen.add(ep.name)
        records.append(load_entry_point(ep, dist))
    return records


def _entry_points(
    group: str, dists: Iterable[importlib.metadata.Distribution] | None
) -> Iterable[tuple[importlib.metadata.Distribution, importlib.metadata.EntryPoint]]:
    for dist in importlib.metadata.distributions() if dists is None else dists:
        for ep in dist.entry_points:
            if ep.group == group:
                yield dist, ep


def load_entry_point(
    ep: importlib.metadata.EntryPoint, dist: importlib.metadata.Distribution
) -> PluginRecord:
    """Load one entry point; every failure becomes a record with a reason, never an exception."""
    try:
        manifest = read_manifest(ep)
    except PluginLoadError as exc:
        return _failed(ep, dist, str(exc))
    if manifest.version != dist.version:
        return _failed(
            ep,
            dist,
            f"manifest version {manifest.version!r} differs from the installed distribution "
            f"version {dist.version!r}; reinstall the plugin",
            manifest,
        )
    try:
        plugin_object = ep.load()
    except Exception as exc:  # any import-time failure of third-party code is a load error
        return _failed(ep, dist, f"import failed: {type(exc).__name__}: {exc}", manifest)
    try:
        loaded = load_plugin(ep.name, plugin_object, manifest)
    except PluginLoadError as exc:
        return _failed(ep, dist, str(exc), manifest)
    return PluginRecord(ep.name, ep.value, _dist_label(dist), manifest, loaded)


def load_plugin(name: str, plugin_object: object, manifest: Manifest) -> LoadedPlugin:
    """Register ``plugin_object`` in a PluginManager of its own and check it against
    ``manifest``. Tests use this to load fake plugins in-process."""
    try:
        policy = NetworkPolicy.from_patterns(manifest.network_targets, plugin=name)
    except InvalidPattern as exc:
        raise PluginLoadError(f"manifest declares a malformed network target: {exc}") from None
    manager = pluggy.PluginManager(spec.PROJECT_NAME)
    manager.add_hookspecs(spec)
    try:
        manager.register(plugin_object, name=name)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"hook validation failed: {exc}") from None
    try:
        declared = _call_one(manager, "network_targets")
    except Exception as exc:
        raise PluginLoadError(f"network_targets() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(declared, list) or sorted(declared) != sorted(manifest.network_targets):
        raise PluginLoadError(
            "network_targets() differ from the manifest: "
            f"plugin returned {declared!r}, manifest declares {list(manifest.network_targets)!r}"
        )
    return LoadedPlugin(name, manager, manifest, policy)


def read_manifest(ep: importlib.metadata.EntryPoint) -> Manifest:
    """Read ``manifest.toml`` from the entry point's top-level package without importing it."""
    top = ep.module.partition(".")[0]
    try:
        module_spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        raise PluginLoadError(f"cannot locate package {top!r}: {exc}") from None
    locations = module_spec.submodule_search_locations if module_spec else None
    if not locations:
        raise PluginLoadError(f"cannot locate package {top!r} to read its manifest.toml")
    for location in locations:
        candidate = Path(location) / "manifest.toml"
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            manifest = Manifest.parse(text, source=str(candidate))
            expected = f"{ep.group}:{ep.name}"
            if manifest.entry_point != expected:
                raise PluginLoadError(
                    f"{candidate} declares entry point {manifest.entry_point!r}, "
                    f"but it was found as {expected!r}"
                )
            return manifest
    raise PluginLoadError(f"package {top!r} ships no manifest.toml")


def _call_one(manager: pluggy.PluginManager, hook: str, **kwargs: Any) -> Any:
    caller = getattr(manager.hook, hook)
    implementations = len(caller.get_hookimpls())
    if implementations != 1:
        raise PluginLoadError(f"{hook}() must be implemented exactly once, got {implementations}")
    results = caller(**kwargs)
    return results[0] if results else None  # pluggy drops a None result (e.g. configure)


def _failed(
    ep: importlib.metadata.EntryPoint,
    dist: importlib.metadata.Distribution,
    reason: str,
    manifest: Manifest | None = None,
) -> PluginRecord:
    return PluginRecord(ep.name, ep.value, _dist_label(dist), manifest, None, reason)


def _dist_label(dist: importlib.metadata.Distribution) -> str:
    return f"{dist.metadata['Name']} {dist.version}"
