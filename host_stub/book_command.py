"""``woox-host book SYMBOL``: one order book, drawn on a terminal or written as jsonl.

On a terminal the top levels are redrawn in place (``book_view``); piped or redirected, every
``BookEvent`` and ``StatusEvent`` is a jsonl object (the same objects ``stream --channel book
--format jsonl`` writes), which a program rebuilds with ``spec.OrderBook.apply``. Depth and
``--rpi`` are the contract's ``StreamConfig`` fields, checked by the contract: the pushed top-10
book is ``--depth 10 --rpi``, as the contract exposes it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final, TextIO

from host_stub.book_view import BookView
from host_stub.event_output import EventWriter
from host_stub.failures import UsageError
from host_stub.hosting import endpoints_from, plugin_session
from host_stub.loader import LoadedPlugin
from host_stub.output import same_terminal
from host_stub.spec import Channel, StreamConfig
from host_stub.stream_command import options_named, symbols_of
from host_stub.streaming import run_stream

VIEW_FORMATS: Final = ("view", "jsonl")
DEFAULT_LEVELS: Final = 10


def book_config(args: argparse.Namespace) -> StreamConfig:
    """The book stream the options ask for, refused in the contract's words."""
    symbols = symbols_of(args.symbol)
    if len(symbols) > 1:
        raise UsageError(
            f"book shows one symbol, not {len(symbols)}; several books as data: "
            f"woox-host stream {args.symbol} --channel book --format jsonl"
        )
    typed = {"depth": f"--depth {args.depth}", "rpi": "--rpi"}
    with options_named(typed):
        config = StreamConfig(symbols[0], channel=Channel.BOOK, depth=args.depth, rpi=args.rpi)
    assert config.depth is not None  # the contract fills in a book's depth
    if args.levels is not None and args.levels > config.depth:
        raise UsageError(
            f"--levels {args.levels} is more than the book holds: a depth-{config.depth} book "
            f"has {config.depth} levels per side (give --levels {config.depth} or less, or a "
            "larger --depth)"
        )
    return config


def view_format(args: argparse.Namespace, out: TextIO) -> str:
    """``--format``, else the view on a terminal and jsonl anywhere else."""
    if args.format is not None:
        fmt: str = args.format
        return fmt
    return "view" if out.isatty() else "jsonl"


async def cmd_book(args: argparse.Namespace, plugin: LoadedPlugin, out: TextIO) -> int:
    config = book_config(args)
    assert config.depth is not None
    endpoints = endpoints_from(args)
    fmt = view_format(args, out)
    sink: BookView | EventWriter
    if fmt == "view":
        levels = min(args.levels or DEFAULT_LEVELS, config.depth)
        sink = BookView(out, config.symbol, config.depth, config.rpi, levels)
    else:
        sink = EventWriter(out, "jsonl", [config], {})
    async with plugin_session(plugin, endpoints, args.allow) as session:
        try:
            await run_stream(
                plugin,
                session,
                [config],
                sink,
                seconds=args.for_seconds,
                connect_within=args.connect_timeout,
                where=endpoints.describe_ws(),
                # The view shows status lines itself; on its own terminal stderr would tear it.
                report=not (fmt == "view" and same_terminal(out, sys.stderr)),
            )
        finally:
            sink.finish()
    return 0
