"""Run the simulator by hand: ``python -m woox_datasource.simulator --port 0 --speed 60``.

Prints the REST and WebSocket URLs (first lines, flushed, so a parent process can read them) and
serves until interrupted (Ctrl-C / SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import signal
import sys
from collections.abc import Sequence

from .server import WooXSimulator
from .venue import venue_symbols


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m woox_datasource.simulator",
        description="Serve a simulated WOO X v3 public API (REST + WebSocket) on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    p.add_argument("--speed", type=float, default=1.0, help="market clock speed (60 = 1 min/s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the deterministic candles")
    p.add_argument(
        "--venue",
        action="store_true",
        help="list 313 instruments like WOO X's instead of the default 10",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="compute every symbol's 24 h statistics before printing the URLs (a venue: seconds)",
    )
    p.add_argument(
        "--rate-limit", type=int, default=10, help="REST requests per second per IP (0 = off)"
    )
    p.add_argument("--idle-timeout", type=float, default=60.0, help="WS idle close, seconds")
    p.add_argument(
        "--server-ping-interval", type=float, default=None, help="send WS PINGs every N seconds"
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    sim = WooXSimulator(
        symbols=venue_symbols() if args.venue else None,
        seed=args.seed,
        speed=args.speed,
        rate_limit=args.rate_limit or None,
        idle_timeout_s=args.idle_timeout,
        server_ping_interval_s=args.server_ping_interval,
        port=args.port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        if args.warm:
            await sim.warm_up()
        now = datetime.datetime.fromtimestamp(sim.clock.now_ms() / 1000, datetime.UTC)
        print(f"REST {sim.rest_url}")
        print(f"WS   {sim.ws_url}")
        symbols = sim.symbols
        listed = ", ".join(symbols) if len(symbols) <= 12 else f"{len(symbols)} (venue size)"
        print(
            f"market time {now:%Y-%m-%dT%H:%M:%SZ}, speed {args.speed:g}x, seed {args.seed}, "
            f"symbols: {listed}"
        )
        print("serving; Ctrl-C to stop", flush=True)
        await stop.wait()
    print("stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except (OSError, ValueError) as exc:
        print(f"cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
