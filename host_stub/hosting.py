"""Hosting one plugin for the command line: find it, configure it, hand it a policed session.

The host needs to know nothing about any exchange: intervals come from the plugin's own
timeframe table, endpoints from ``endpoints``, and what the plugin may reach from its manifest
plus what the user admitted.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from host_stub.endpoints import Endpoints, refusal, resolve
from host_stub.failures import UsageError
from host_stub.loader import LoadedPlugin, discover
from host_stub.netpolicy import InvalidPattern, create_session
from host_stub.spec import DatasourceInfo


def load(name: str) -> LoadedPlugin:
    """Discover plugins and return the one called ``name``, or say why it is not available."""
    records = discover()
    for record in records:
        if record.name == name:
            if record.plugin is None:
                raise UsageError(f"plugin {name!r} failed to load: {record.error}")
            return record.plugin
    known = ", ".join(r.name for r in records) or "none"
    raise UsageError(f"no datasource plugin named {name!r} is installed (found: {known})")


def endpoints_from(args: argparse.Namespace) -> Endpoints:
    return resolve(
        environment=args.env,
        rest_url=args.rest_url,
        ws_url=args.ws_url,
        simulator=args.simulator,
    )


@contextlib.asynccontextmanager
async def plugin_session(
    plugin: LoadedPlugin, endpoints: Endpoints, allow: Sequence[str]
) -> AsyncIterator[aiohttp.ClientSession]:
    """Configure ``plugin`` and yield the only session it may use.

    The policy is the plugin's manifest targets plus what the user admitted (``--allow``, or
    ``--simulator``). Custom endpoints are checked up front so that a refusal says how to admit
    them, instead of surfacing as a failed request later."""
    try:
        policy = plugin.policy.extended([*allow, *endpoints.allow])
    except InvalidPattern as exc:
        raise UsageError(f"--allow: {exc}") from None
    problem = refusal(policy, endpoints, plugin.name)
    if problem is not None:
        raise UsageError(problem)
    plugin.call("configure", settings=endpoints.settings())
    session = create_session(policy)
    try:
        yield session
    finally:
        try:
            await plugin.shutdown()  # while the session is still open, as the loader asks
        finally:
            await session.close()


def intervals(plugin: LoadedPlugin) -> tuple[DatasourceInfo, dict[int, str]]:
    """The plugin's info and its interval labels by seconds (``{3600: '1h', ...}``)."""
    info: DatasourceInfo = plugin.call("datasource_info")
    return info, {tf.interval: tf.label for tf in info.timeframes}


def interval_of(plugin: LoadedPlugin, text: str) -> int:
    """Seconds for ``text``: a number of seconds, or a label from the plugin's own timeframe
    table (``datasource_info``), so the host needs to know nothing about any exchange."""
    if text.isdigit():
        return int(text)
    info, labels = intervals(plugin)
    by_label = {label: seconds for seconds, label in labels.items()}
    if text not in by_label:
        raise UsageError(
            f"unsupported interval {text!r}; {info.name} offers {', '.join(by_label)} "
            "(or give seconds, e.g. 3600)"
        )
    return by_label[text]


def symbol_of(text: str) -> str:
    """One symbol, as typed; the plugin checks its spelling. A list is refused here, where the
    message can say what to do instead."""
    if any(sep in text for sep in ", ;") or not text:
        raise UsageError(
            f"give one symbol per command, got {text!r} (run one command per symbol; only "
            "stream takes several, separated by commas)"
        )
    return text


async def aclose(iterator: AsyncIterator[Any]) -> None:
    """Close a plugin's async iterator early (cancelling its outstanding requests)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


def now_ms() -> int:
    """The local clock, in whole seconds: relative times and messages need no milliseconds."""
    return time.time_ns() // 1_000_000_000 * 1000
