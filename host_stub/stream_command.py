"""``woox-host stream`` and ``woox-host channels``: live data of any channel the plugin serves.

The host knows no exchange: the contract (``StreamConfig``) checks which options a channel
takes, the plugin says which channels it serves (``datasource_info``) and refuses the others
itself, and the messages are theirs, with the option the user typed in front.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TextIO

import aiohttp
import attrs

from host_stub.event_output import EventWriter, write_channels
from host_stub.failures import UsageError
from host_stub.hosting import (
    aclose,
    endpoints_from,
    interval_of,
    intervals,
    now_ms,
    plugin_session,
)
from host_stub.loader import LoadedPlugin
from host_stub.spec import OHLCV, Channel, HistoryRequest, InvalidRequest, StreamConfig
from host_stub.streaming import run_stream
from host_stub.times import format_ms, parse_since_ms

CHANNEL_NAMES = ", ".join(Channel)


def channel_named(text: str) -> Channel:
    """``--channel``: a contract channel name; case and ``-`` for ``_`` are forgiven
    (``mark-price``)."""
    try:
        return Channel(text.strip().lower().replace("-", "_"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown channel {text!r}: the channels are {CHANNEL_NAMES} "
            "('woox-host channels' lists what the plugin serves)"
        ) from None


def symbols_of(text: str) -> list[str]:
    """One symbol or several, separated by commas (``SPOT_BTC_USDT,PERP_ETH_USDT``), as typed;
    the plugin checks their spelling."""
    symbols = [item.strip() for item in text.split(",")]
    if not all(symbols) or any(" " in s or ";" in s for s in symbols):
        raise UsageError(
            f"cannot read {text!r} as symbols: give one, or several separated by commas "
            "(SPOT_BTC_USDT,PERP_ETH_USDT)"
        )
    seen: set[str] = set()
    for symbol in symbols:
        if symbol.upper() in seen:
            raise UsageError(f"{symbol} is listed twice in {text!r}")
        seen.add(symbol.upper())
    return symbols


def stream_configs(args: argparse.Namespace, plugin: LoadedPlugin, now: int) -> list[StreamConfig]:
    """One config per symbol, as the options ask; the contract judges what the channel takes."""
    channel: Channel = args.channel
    symbols = symbols_of(args.symbol)
    if args.backfill is not None and args.last is not None:
        raise UsageError("give --backfill SINCE or --last N, not both")
    if args.last is not None and channel is not Channel.CANDLES:
        raise UsageError(
            f"--last N starts with the N latest closed candles: the {channel} channel has none "
            "(--backfill SINCE starts the channels that take it with history)"
        )
    backfill = None
    if args.backfill is not None:
        backfill = parse_since_ms(args.backfill, now_ms=now)
        if backfill >= now:
            raise UsageError(
                f"--backfill {args.backfill} ({format_ms(backfill)}) is in the future "
                f"(now is {format_ms(now)}); give how far back to start, e.g. 2h"
            )
    interval = None
    if args.interval is None:
        if channel is Channel.CANDLES:
            raise UsageError(
                "the candles channel needs an INTERVAL, e.g. 'stream SPOT_BTC_USDT 1m'; for "
                f"another channel give --channel NAME ({CHANNEL_NAMES})"
            )
    else:
        interval = _interval(plugin, args.interval)
    typed = {
        "interval": f"INTERVAL {args.interval}",
        "depth": f"--depth {args.depth}",
        "rpi": "--rpi",
        "backfill_from": f"--backfill {args.backfill}",
        "finals_only": "--finals-only",
    }
    with options_named(typed):
        return [
            StreamConfig(symbol, interval, channel=channel, depth=args.depth, rpi=args.rpi,
                         backfill_from=backfill, finals_only=args.finals_only)
            for symbol in symbols
        ]  # fmt: skip


@contextlib.contextmanager
def options_named(typed: Mapping[str, str]) -> Iterator[None]:
    """The contract's refusal names its own field (``depth=20 is not a book depth: ...``); put
    the option the user typed for that field (``typed[field]``) in front of it."""
    try:
        yield
    except InvalidRequest as exc:
        field = next((name for name in typed if str(exc).startswith(f"{name}=")), None)
        if field is None:
            raise
        raise InvalidRequest(f"{typed[field]}: {exc}") from None


def _interval(plugin: LoadedPlugin, text: str) -> int:
    try:
        return interval_of(plugin, text)
    except UsageError as exc:
        name = text.strip().lower().replace("-", "_")
        if name in set(Channel):
            raise UsageError(
                f"{text!r} is a channel, not an interval: give --channel {name}"
            ) from None
        if text[:1].isdigit():
            raise
        # Most likely a second symbol typed as its own argument.
        raise UsageError(
            f"{exc}; several symbols go in one argument, separated by commas (A,B)"
        ) from None


async def cmd_stream(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    configs = stream_configs(args, plugin, now_ms())
    _, labels = intervals(plugin)
    writer = EventWriter(out, args.format, configs, labels)
    endpoints = endpoints_from(args)
    async with plugin_session(plugin, endpoints, args.allow) as session:
        if args.last is not None:
            configs = [await _last_first(plugin, session, c, args.last, writer) for c in configs]
            writer.finish()
        await run_stream(
            plugin,
            session,
            configs,
            writer,
            seconds=args.for_seconds,
            connect_within=args.connect_timeout,
            where=endpoints.describe_ws(),
        )
    writer.finish()
    return 0


async def _last_first(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    config: StreamConfig,
    count: int,
    writer: EventWriter,
) -> StreamConfig:
    """Write the ``count`` last closed candles (as finals) and return the config that goes on
    live from the next one: the stream's own backfill covers whatever closed in between, with
    no hole and no repeat."""
    assert config.interval is not None
    last = HistoryRequest(config.symbol, config.interval, limit=count)
    batches: AsyncIterator[Sequence[OHLCV]] = plugin.call(
        "fetch_history", session=session, request=last
    )
    newest: OHLCV | None = None
    try:
        async for batch in batches:
            writer.write_candles(batch, True)
            newest = batch[-1]
    finally:
        await aclose(batches)
    return config if newest is None else attrs.evolve(config, backfill_from=newest.close_time)


def cmd_channels(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    info, _ = intervals(plugin)
    if not info.channels and args.format == "table":
        out.write(f"{info.name} declares no live channels\n")
        return 0
    write_channels(out, info.channels, args.format)
    return 0
