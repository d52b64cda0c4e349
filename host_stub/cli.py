"""``woox-host``: the reference host's command line.

It stands in for the terminal: it discovers datasource plugins, hands each one a network-policed
session, and prints what the plugin returns. Each command is a ``cmd_*`` function registered in
:func:`build_parser`; what they share lives in small modules beside this one: ``hosting``
(loading, configuring, the policed session), ``failures`` (one line and an exit code per
failure), ``endpoints``, ``outfile``, ``output``, ``streaming``, ``times``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, NoReturn, TextIO

import aiohttp

from host_stub import output
from host_stub.archive import cmd_chart, cmd_sync, stored_candles
from host_stub.book_command import DEFAULT_LEVELS, VIEW_FORMATS, cmd_book
from host_stub.failures import PROG, UsageError, flush_output, plugin_logs, report
from host_stub.hosting import (
    aclose,
    endpoints_from,
    interval_of,
    intervals,
    load,
    now_ms,
    plugin_session,
    symbol_of,
)
from host_stub.loader import LoadedPlugin, PluginRecord, discover
from host_stub.outfile import output_file
from host_stub.spec import OHLCV, Channel, DatasourceError, HistoryRequest, Market
from host_stub.stream_command import channel_named, cmd_channels, cmd_stream
from host_stub.streaming import DEFAULT_CONNECT_WITHIN
from host_stub.times import (
    UNITS,
    TimeSyntaxError,
    display_zone,
    format_ms,
    format_span,
    parse_seconds,
    parse_time_ms,
    zone_named,
)

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
    async with plugin_session(plugin, endpoints_from(args), args.allow) as session:
        markets: list[Market] = await plugin.call("list_markets", session=session)
    if args.kind:
        markets = [m for m in markets if m.kind.value == args.kind]
    output.write_markets(out, sorted(markets, key=lambda m: m.symbol), args.format)
    return 0


def history_range(args: argparse.Namespace, now: int) -> tuple[int, int]:
    """``--start`` and ``--end`` in ms, checked in the user's own terms."""
    start = parse_time_ms(args.start, now_ms=now)
    end = parse_time_ms(args.end or "now", now_ms=now)
    said_start = f"--start {args.start} ({format_ms(start)})"
    if start >= now:
        raise UsageError(
            f"{said_start} is in the future (now is {format_ms(now)}): there is no history yet"
        )
    if start >= end:
        raise UsageError(
            f"{said_start} is not before --end {args.end or 'now'} ({format_ms(end)}); "
            "the range is [start, end)"
        )
    return start, end


def history_request(
    args: argparse.Namespace, plugin: LoadedPlugin, now: int
) -> tuple[HistoryRequest, int, int]:
    """The request ``--start``/``--end`` or ``--last``/``--end`` ask for, and the range it
    spans (for ``--last``, the nominal span of N candles before ``--end``, for progress)."""
    symbol, interval = symbol_of(args.symbol), interval_of(plugin, args.interval)
    if args.last is None:
        start, end = history_range(args, now)
        return HistoryRequest(symbol, interval, start, end), start, end
    until = parse_time_ms(args.end, now_ms=now) if args.end is not None else None
    span_end = now if until is None else until
    request = HistoryRequest(symbol, interval, end=until, limit=args.last)
    return request, max(0, span_end - args.last * interval * 1000), span_end


async def cmd_history(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    now = now_ms()
    request, start, end = history_request(args, plugin, now)
    _, labels = intervals(plugin)
    label = labels.get(request.interval, f"{request.interval}s")
    endpoints = endpoints_from(args)
    async with (
        output_file(args.out, out) as target,
        plugin_session(plugin, endpoints, args.allow) as session,
    ):
        writer = output.CandleWriter(target, args.format, labels)
        progress = output.Progress(start, end, data=target)
        batches: AsyncIterator[Sequence[OHLCV]]
        if args.store:
            batches = _batches(await stored_candles(plugin, session, args.store, request, now))
        else:
            batches = plugin.call("fetch_history", session=session, request=request)
        try:
            async for batch in batches:
                writer.write(batch)
                progress.update(batch)
        finally:
            await aclose(batches)
            progress.close()
        writer.finish()
        if progress.first is None or progress.last is None:
            why = await explain_empty(
                plugin, session, request.symbol, request.interval, start, end, now
            )
            summary = f"no candles: {why}"
        else:
            summary = (
                f"{progress.rows} {request.symbol.upper()} {label} "
                f"candle{'s' * (progress.rows != 1)} "
                f"{format_span(progress.first, progress.last)} in {progress.elapsed:.1f} s"
            )
    where = f", written to {args.out}" if args.out else ""
    sys.stderr.write(f"{PROG}: {summary}{where}\n")
    return 0


async def explain_empty(
    plugin: LoadedPlugin,
    session: aiohttp.ClientSession,
    symbol: str,
    interval: int,
    start: int,
    end: int,
    now: int,
) -> str:
    """Why ``[start, end)`` held nothing, in the user's terms: a range shorter than one candle,
    a candle still forming, or a range before the symbol's data (found by one more look, at up
    to 1000 candles after it)."""
    _, labels = intervals(plugin)
    label = labels.get(interval, f"{interval}s")
    span = format_span(start, end)
    step = interval * 1000
    closed_only = "history holds closed candles only"
    if min(end, now) - start < step:
        return f"{span} is shorter than one {label} candle and holds no closed one ({closed_only})"
    if min(end, now) - start < 2 * step and end > now - step:
        # The first candle opening in the range may close only after now.
        return f"no {label} candle opening in {span} has closed yet ({closed_only})"
    probe_end = min(now, end + 1000 * step)
    if probe_end > end:
        after = HistoryRequest(symbol, interval, end, probe_end)
        batches: AsyncIterator[list[OHLCV]] = plugin.call(
            "fetch_history", session=session, request=after
        )
        try:
            async for batch in batches:
                first = batch[0].open_time
                return (
                    f"the exchange has no {label} candles in {span}; its first one after that "
                    f"opens at {format_ms(first)} (the symbol was probably listed then)"
                )
        except (DatasourceError, aiohttp.ClientError, TimeoutError):
            # Only an explanation failed: the download itself succeeded and stands.
            return f"the exchange has no {label} candles of {symbol.upper()} in {span}"
        finally:
            await aclose(batches)
    return f"the exchange has no {label} candles of {symbol.upper()} in or after {span}"


async def _batches(candles: Sequence[OHLCV], size: int = 1000) -> AsyncIterator[Sequence[OHLCV]]:
    for i in range(0, len(candles), size):
        yield candles[i : i + size]


async def cmd_demo(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    from host_stub.demo import run_demo  # imported by main() before the loop starts

    return await run_demo(args, plugin, out)


# ---------------------------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(2)


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text)
    except TimeSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}: give 1 or more")
        return int(text)

    return parse


_count = _positive("candles")


def _levels(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of book levels, e.g. 50")
    return int(text)


def _demo_seconds(text: str) -> float:
    seconds = _seconds(text)
    if seconds < 10:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too short: the demo needs at least 10 seconds to show a stream "
            "healing two disconnects"
        )
    return seconds


def _version() -> str:
    try:
        return importlib.metadata.version("woox-datasource")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


def _common(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    """Options every command shares. They may come before or after the command name."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if sub else value

    parser.add_argument("--plugin", default=default("woox"), help="plugin name (default: woox)")
    parser.add_argument(
        "--env",
        choices=("production", "staging"),
        default=default("production"),
        help="exchange environment (default: production)",
    )
    for option, what, other in (("--rest-url", "REST base", "--ws-url"),
                                ("--ws-url", "WebSocket", "--rest-url")):  # fmt: skip
        parser.add_argument(
            option, default=default(None), metavar="URL", help=f"custom {what} URL (needs {other})"
        )
    parser.add_argument(
        "--simulator",
        default=default(None),
        metavar="URL",
        help="use the project's simulator on this machine, e.g. http://127.0.0.1:8765 (sets "
        "both URLs and admits them)",
    )
    parser.add_argument(
        "--tz",
        default=default("UTC"),
        metavar="ZONE",
        help="show (and read naive) times in ZONE, e.g. Europe/Berlin (default: UTC)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        dest="allow_sub" if sub else "allow",
        default=argparse.SUPPRESS if sub else [],
        metavar="PATTERN",
        help="admit an extra URL pattern, e.g. 'http://127.0.0.1:*/*' (repeatable)",
    )


def _live(parser: argparse.ArgumentParser) -> None:
    """How long a live command runs, and how long it waits for its first connection."""
    parser.add_argument(
        "--for", dest="for_seconds", type=_seconds, metavar="SECONDS", help="stop after SECONDS"
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=DEFAULT_CONNECT_WITHIN,
        metavar="SECONDS",
        help=f"fail if not connected within SECONDS (default {DEFAULT_CONNECT_WITHIN:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Reference host for PlusEV datasource plugins.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
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

    when = f"ISO-8601 UTC, epoch ms, now, or relative ({UNITS}), e.g. -7d"
    history = command("history", "download candles for [start, end)")
    history.add_argument("symbol", help="e.g. SPOT_BTC_USDT or PERP_ETH_USDT")
    history.add_argument("interval", help="e.g. 1m, 1h, 1d, 1M, 1y, or seconds (3600)")
    first = history.add_mutually_exclusive_group(required=True)
    first.add_argument("--start", metavar="TIME", help=when)
    first.add_argument(
        "--last", type=_count, metavar="N", help="the N latest closed candles (before --end)"
    )
    history.add_argument("--end", metavar="TIME", help=f"{when} (default: now)")
    history.add_argument(
        "--store", metavar="DIR", help="read from the candle store in DIR, fetching what it lacks"
    )
    history.add_argument("--format", choices=output.FORMATS, default="table")
    history.add_argument(
        "--out", metavar="FILE", help="write to FILE (replaced only when the download succeeds)"
    )

    channels = command("channels", "list the live channels the plugin serves")
    channels.add_argument("--format", choices=output.FORMATS, default="table")

    stream = command("stream", "print live data as it comes: candles, trades, bbo, ...")
    stream.add_argument(
        "symbol", help="a symbol, or several separated by commas: SPOT_BTC_USDT,PERP_ETH_USDT"
    )
    stream.add_argument(
        "interval", nargs="?", help="candles only (and required there): e.g. 1m, 1h, 3600"
    )
    stream.add_argument(
        "--channel",
        type=channel_named,
        default=Channel.CANDLES,
        metavar="NAME",
        help=f"one of {', '.join(Channel)} (default candles; see: woox-host channels)",
    )
    stream.add_argument(
        "--depth", type=_levels, metavar="N", help="book only: levels per side (50, 200, 500)"
    )
    stream.add_argument(
        "--rpi", action="store_true", help="bbo and book: include Retail Price Improvement orders"
    )
    stream.add_argument(
        "--backfill",
        metavar="SINCE",
        help="candles and trades: start with history since SINCE: 2h (= -2h) or a TIME",
    )
    stream.add_argument(
        "--last", type=_count, metavar="N", help="candles: start with the N latest closed candles"
    )
    stream.add_argument("--finals-only", action="store_true", help="candles: only closed ones")
    _live(stream)
    stream.add_argument("--format", choices=output.FORMATS, default="table")

    book = command("book", "show one order book live: top levels redrawn in place, or jsonl")
    book.add_argument("symbol", help="e.g. PERP_BTC_USDT")
    book.add_argument(
        "--depth",
        type=_levels,
        metavar="N",
        help="levels per side the book keeps: 50 (default), 200, 500; 10 with --rpi for the "
        "pushed top-10 book",
    )
    book.add_argument(
        "--levels",
        type=_positive("book levels"),
        metavar="K",
        help=f"levels per side shown on a terminal (default {DEFAULT_LEVELS}, at most the depth)",
    )
    book.add_argument(
        "--rpi", action="store_true", help="the book including Retail Price Improvement orders"
    )
    book.add_argument(
        "--format",
        choices=VIEW_FORMATS,
        help="view (redrawn in place) or jsonl (default: view on a terminal, jsonl otherwise)",
    )
    _live(book)

    sync = command(
        "sync", "bring candles of [start, end) into the candle store (only what it lacks)"
    )
    sync.add_argument("symbol", help="the plugin's own spelling, e.g. SPOT_BTC_USDT")
    sync.add_argument("interval")
    sync.add_argument("--start", required=True, metavar="TIME", help=when)
    sync.add_argument("--end", metavar="TIME", help=f"{when} (default: now)")
    sync.add_argument("--store", required=True, metavar="DIR", help="the store's directory")

    chart = command("chart", "draw a candlestick chart with volume to a PNG or HTML file")
    chart.add_argument("symbol")
    chart.add_argument("interval")
    chart.add_argument("--last", type=_count, required=True, metavar="N", help="N latest candles")
    chart.add_argument("--out", required=True, metavar="FILE", help="FILE.png or FILE.html")
    chart.add_argument("--store", metavar="DIR", help="from the candle store (fetching its gaps)")

    demo = command("demo", "run markets, history and a self-healing stream on the simulator")
    demo.add_argument(
        "--seconds", type=_demo_seconds, default=20.0, help="stream duration (default 20, min 10)"
    )
    return parser


_ASYNC_COMMANDS: dict[
    str, Callable[[argparse.Namespace, LoadedPlugin, TextIO], Coroutine[Any, Any, int]]
] = {
    "markets": cmd_markets,
    "history": cmd_history,
    "stream": cmd_stream,
    "book": cmd_book,
    "sync": cmd_sync,
    "chart": cmd_chart,
    "demo": cmd_demo,
}

_TAKES_TIME = ("--start", "--end", "--backfill")
_NUMBER_START = frozenset("0123456789.")
"""``-7d``, ``-1.5h``, ``-1x`` (wrong, but a value): no option starts with a digit."""


def _join_relative_times(argv: Sequence[str]) -> list[str]:
    """Let ``--start -7d`` mean ``--start=-7d``: argparse would read ``-7d`` as an option."""
    joined: list[str] = []
    items = iter(argv)
    for item in items:
        if item in _TAKES_TIME:
            value = next(items, None)
            if value is not None and value[:1] == "-" and value[1:2] in _NUMBER_START:
                joined.append(f"{item}={value}")
            else:
                joined.extend([item] if value is None else [item, value])
        else:
            joined.append(item)
    return joined


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_join_relative_times(raw))
    args.allow = [*args.allow, *getattr(args, "allow_sub", [])]
    target = out if out is not None else sys.stdout
    code: int
    with plugin_logs():
        try:
            with display_zone(zone_named(args.tz)):
                if args.command == "plugins":
                    code = cmd_plugins(args, target)
                elif args.command == "channels":
                    code = cmd_channels(args, load(args.plugin), target)
                else:
                    if args.command == "demo":
                        import host_stub.demo  # noqa: F401 - imports happen off the loop
                    # Discovery and imports are blocking work: do them before the loop starts.
                    plugin = load(args.plugin)
                    code = asyncio.run(_ASYNC_COMMANDS[args.command](args, plugin, target))
        except (KeyboardInterrupt, Exception) as exc:
            return report(exc, target)
    failed = flush_output(target)
    return code if failed is None else failed


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
