"""``woox-host``: the reference host's command line.

It stands in for the terminal: it discovers datasource plugins, hands each one a network-policed
session, and prints what the plugin returns. Bad input is one line on stderr and exit code 2;
exchange or network failures exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TextIO

import aiohttp

from host_stub import output
from host_stub.loader import LoadedPlugin, PluginRecord, discover
from host_stub.netpolicy import InvalidPattern, create_session
from host_stub.spec import (
    OHLCV,
    CandleEvent,
    DatasourceError,
    DatasourceInfo,
    HistoryRequest,
    InvalidRequest,
    Market,
    NetworkNotAllowed,
    StatusEvent,
    StreamConfig,
    StreamEvent,
    UnknownSymbol,
)
from host_stub.times import TimeSyntaxError, format_ms, parse_duration_ms, parse_time_ms

PROG = "woox-host"


class UsageError(Exception):
    """The command line asks for something that cannot be done; the message says what."""


# ---------------------------------------------------------------------------------------------
# Plugin and session plumbing
# ---------------------------------------------------------------------------------------------


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


def settings_from(args: argparse.Namespace) -> dict[str, str]:
    settings = {"environment": args.env}
    if args.rest_url:
        settings["rest_url"] = args.rest_url
    if args.ws_url:
        settings["ws_url"] = args.ws_url
    return settings


@contextlib.asynccontextmanager
async def plugin_session(
    plugin: LoadedPlugin, settings: dict[str, str], allow: Sequence[str]
) -> AsyncIterator[aiohttp.ClientSession]:
    """Configure ``plugin`` and yield the only session it may use.

    The policy is the plugin's manifest targets plus what the user admitted with ``--allow``.
    Custom endpoints are checked up front so that a refusal says how to admit them, instead of
    surfacing as a failed request later."""
    try:
        policy = plugin.policy.extended(allow)
    except InvalidPattern as exc:
        raise UsageError(f"--allow: {exc}") from None
    for key in ("rest_url", "ws_url"):
        url = settings.get(key)
        if url and not policy.allows(url):
            origin = url.split("://", 1)[0] + "://" + url.split("://", 1)[1].split("/", 1)[0]
            raise UsageError(
                f"the host's network policy refuses {key} {url!r} for plugin {plugin.name!r} "
                f"(it admits only {', '.join(p.text for p in policy.patterns)}); "
                f"to admit it, add: --allow '{origin}/*'"
            )
    plugin.call("configure", settings=settings)
    session = create_session(policy)
    try:
        yield session
    finally:
        await session.close()


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    records = discover()
    if not records:
        out.write("no datasource plugins installed\n")
        return 0
    for record in records:
        out.write(_describe(record))
    return 0 if all(r.loaded for r in records) else 1


def _describe(record: PluginRecord) -> str:
    manifest = record.manifest
    lines = [
        f"{record.name}: {'loaded' if record.loaded else 'FAILED'}",
        f"  entry point : {record.value} ({record.distribution})",
    ]
    if manifest is not None:
        lines += [
            f"  id          : {manifest.id}",
            f"  version     : {manifest.version}",
            "  targets     : " + ", ".join(manifest.network_targets),
        ]
    if record.error:
        lines.append(f"  reason      : {record.error}")
    return "\n".join(lines) + "\n"


async def cmd_markets(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    async with plugin_session(plugin, settings_from(args), args.allow) as session:
        markets: list[Market] = await plugin.call("list_markets", session=session)
    if args.kind:
        markets = [m for m in markets if m.kind.value == args.kind]
    output.write_markets(out, sorted(markets, key=lambda m: m.symbol), args.format)
    return 0


async def cmd_history(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    now = int(time.time() * 1000)
    start = parse_time_ms(args.start, now_ms=now)
    end = parse_time_ms(args.end, now_ms=now)
    request = HistoryRequest(args.symbol, interval_of(plugin, args.interval), start, end)
    with _open_out(args.out, out) as target:
        writer = output.CandleWriter(target, args.format)
        progress = output.Progress(start, end)
        async with plugin_session(plugin, settings_from(args), args.allow) as session:
            batches: AsyncIterator[Sequence[OHLCV]] = plugin.call(
                "fetch_history", session=session, request=request
            )
            try:
                async for batch in batches:
                    writer.write(batch)
                    progress.update(batch)
            finally:
                await _aclose(batches)
                progress.close()
        writer.finish()
    return 0


async def cmd_stream(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    now = int(time.time() * 1000)
    config = StreamConfig(
        symbol=args.symbol,
        interval=interval_of(plugin, args.interval),
        backfill_from=now - parse_duration_ms(args.backfill) if args.backfill else None,
        finals_only=args.finals_only,
    )
    writer = output.CandleWriter(out, args.format, with_final=True)
    async with plugin_session(plugin, settings_from(args), args.allow) as session:
        await run_stream(plugin, session, config, writer, seconds=args.for_seconds)
    return 0


async def run_stream(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    config: StreamConfig,
    writer: output.CandleWriter,
    *,
    seconds: float | None,
    on_event: Callable[[StreamEvent], None] | None = None,
) -> None:
    """Print a stream's candles to ``writer`` and its status events to stderr, for ``seconds``
    (or until interrupted), then stop it. ``on_event`` sees every event too (the demo counts)."""
    stream = await plugin.call("start_stream", session=session, config=config)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for event in stream:
                    if isinstance(event, CandleEvent):
                        writer.write([event.candle], event.final)
                        writer.finish()
                    else:
                        print_status(event)
                    if on_event is not None:
                        on_event(event)
    finally:
        await plugin.call("stop_stream", stream_id=stream.id)


def print_status(event: StatusEvent) -> None:
    parts = [f"[{event.kind.value}] {event.symbol} {event.interval}s"]
    if event.start is not None and event.end is not None:
        parts.append(f"{format_ms(event.start)} .. {format_ms(event.end)}")
    if event.count is not None:
        parts.append(f"{event.count} candles")
    if event.reason:
        parts.append(event.reason)
    sys.stderr.write(" ".join(parts) + "\n")
    sys.stderr.flush()


async def cmd_demo(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    from host_stub.demo import run_demo  # imported by main() before the loop starts

    return await run_demo(args, plugin, out)


def interval_of(plugin: LoadedPlugin, text: str) -> int:
    """Seconds for ``text``: a number of seconds, or a label from the plugin's own timeframe
    table (``datasource_info``), so the host needs to know nothing about any exchange."""
    if text.isdigit():
        return int(text)
    info: DatasourceInfo = plugin.call("datasource_info")
    labels = {tf.label: tf.interval for tf in info.timeframes}
    if text not in labels:
        raise UsageError(
            f"unsupported interval {text!r}; {info.name} offers {', '.join(labels)} "
            "(or give seconds, e.g. 3600)"
        )
    return labels[text]


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


@contextlib.contextmanager
def _open_out(path: str | None, default: TextIO) -> Any:
    if path is None:
        yield default
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror}") from None
    with handle:
        yield handle


# ---------------------------------------------------------------------------------------------
# Argument parsing and main
# ---------------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    """Options every command shares. They may come before or after the command name."""
    default = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--plugin", default=default if sub else "woox", help="plugin name (default: woox)"
    )
    parser.add_argument(
        "--env",
        choices=("production", "staging"),
        default=default if sub else "production",
        help="WOO X environment (default: production)",
    )
    parser.add_argument("--rest-url", default=default, help="custom REST base URL")
    parser.add_argument("--ws-url", default=default, help="custom WebSocket URL")
    parser.add_argument(
        "--allow",
        action="append",
        dest="allow_sub" if sub else "allow",
        default=[] if not sub else argparse.SUPPRESS,
        metavar="PATTERN",
        help="admit an extra URL pattern, e.g. 'http://127.0.0.1:*/*' (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Reference host for PlusEV datasource plugins."
    )
    _common(parser, sub=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common(sub, sub=True)
        return sub

    command("plugins", "list discovered plugins and whether they loaded")

    markets = command("markets", "list the exchange's markets")
    markets.add_argument("--kind", choices=("spot", "perp"))
    markets.add_argument("--format", choices=output.FORMATS, default="table")

    history = command("history", "download candles for [start, end)")
    history.add_argument("symbol", help="e.g. SPOT_BTC_USDT or PERP_ETH_USDT")
    history.add_argument("interval", help="e.g. 1m, 1h, 1d, 1M, 1y, or seconds (3600)")
    history.add_argument("--start", required=True, help="ISO-8601, epoch ms, now, or -7d")
    history.add_argument("--end", default="now", help="ISO-8601, epoch ms, now, or -1h")
    history.add_argument("--format", choices=output.FORMATS, default="table")
    history.add_argument("--out", help="write to this file instead of stdout")

    stream = command("stream", "print live candles as they come")
    stream.add_argument("symbol")
    stream.add_argument("interval")
    stream.add_argument("--backfill", metavar="DURATION", help="start with history, e.g. 2h")
    stream.add_argument("--finals-only", action="store_true", help="only closed candles")
    stream.add_argument("--for", dest="for_seconds", type=float, metavar="SECONDS")
    stream.add_argument("--format", choices=("table", "jsonl"), default="table")

    demo = command("demo", "run markets, history and a self-healing stream on the simulator")
    demo.add_argument("--seconds", type=float, default=20.0, help="stream duration (default 20)")
    return parser


_ASYNC_COMMANDS: dict[
    str, Callable[[argparse.Namespace, LoadedPlugin, TextIO], Coroutine[Any, Any, int]]
] = {
    "markets": cmd_markets,
    "history": cmd_history,
    "stream": cmd_stream,
    "demo": cmd_demo,
}


_TAKES_RELATIVE_TIME = ("--start", "--end")


def _join_relative_times(argv: Sequence[str]) -> list[str]:
    """Let ``--start -7d`` mean ``--start=-7d``: argparse would read ``-7d`` as an option."""
    joined: list[str] = []
    items = iter(argv)
    for item in items:
        if item in _TAKES_RELATIVE_TIME:
            value = next(items, None)
            joined.append(item if value is None else f"{item}={value}")
        else:
            joined.append(item)
    return joined


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_join_relative_times(raw))
    args.allow = [*args.allow, *getattr(args, "allow_sub", [])]
    target = out if out is not None else sys.stdout
    try:
        if args.command == "plugins":
            return cmd_plugins(args, target)
        if args.command == "demo":
            import host_stub.demo  # noqa: F401 - imports (the simulator) happen off the loop
        # Discovery and imports are blocking work: do them before the event loop starts.
        plugin = load(args.plugin)
        return asyncio.run(_ASYNC_COMMANDS[args.command](args, plugin, target))
    except (
        UsageError,
        InvalidRequest,
        UnknownSymbol,
        NetworkNotAllowed,
        TimeSyntaxError,
    ) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except DatasourceError as exc:
        sys.stderr.write(f"{PROG}: {type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
