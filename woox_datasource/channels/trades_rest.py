"""The trades channel's REST side as I/O: a :class:`~.trades_reads.Read` put on the wire, and the
task that settles one :class:`~.trades_sync.TradeSync`'s outage (or backfill) from REST.

The sync decides which read would help (pure, tested without sockets); :class:`Recovery` only
performs them one at a time through the session's REST client, so every request draws on the
plugin instance's one rate budget, at the trades priority: after a host's own calls and after
candle gap fills (a candle consumer watches a bar that is due; a tape recovering its outage can
deliver it a moment later without losing anything, its pushes are held meanwhile). When no read
would help yet (no socket to join, or its start unknown), the task waits until the owner pokes
it (an ack, a push, a loss); when REST has nothing more to give, it concludes the outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from host_stub.spec import DatasourceError, Trade
from woox_datasource import wire
from woox_datasource.channels.trades_sync import Event, Read, ReadKind, TradeSync
from woox_datasource.rest import RestClient
from woox_datasource.rest.budget import Priority, set_priority
from woox_datasource.stream.stats import log

TRADES_PRIORITY = 1.0
"""First element of the REST priority of trades reads (candle fills use 0)."""


def read_priority(start: int) -> Priority:
    """Trades reads after candle fills, the oldest outage first."""
    return (TRADES_PRIORITY, float(start))


async def fetch(rest: RestClient, symbol: str, read: Read) -> tuple[list[Trade], int | None]:
    """The trades a read returns and the reply's timestamp (the exchange's clock)."""
    if read.kind is ReadKind.NEWEST:
        path, query = wire.MARKET_TRADES_PATH, wire.market_trades_query(symbol, limit=read.limit)
    else:
        path = wire.MARKET_TRADES_HISTORY_PATH
        query = wire.market_trades_history_query(
            symbol, start=read.start, end=read.end, limit=read.limit
        )
    reply = await rest.get_reply(path, query)
    return wire.parse_market_trades(reply.data, symbol), reply.timestamp


class Recovery:
    """Reads REST for ``sync`` while it recovers, handing what each step yields to ``deliver``.
    ``pace`` (if given) is awaited before each read: a consumer's queue making room."""

    def __init__(
        self,
        sync: TradeSync,
        rest: RestClient,
        deliver: Callable[[list[Event]], None],
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sync = sync
        self.rest = rest
        self.deliver = deliver
        self.pace = pace
        self.reads = 0
        """REST reads made (each after the REST client's own retries)."""
        self._moved = asyncio.Event()

    def poke(self) -> None:
        """The socket side moved (an ack, a push, a loss): a read may help now."""
        self._moved.set()

    async def run(self) -> None:
        """Until the sync is no longer recovering (cancel to stop)."""
        sync = self.sync
        set_priority(read_priority(sync.frontier or 0))
        while sync.recovering:
            read = sync.next_read()
            if read is None:
                self.deliver(sync.conclude())
                if not sync.recovering:
                    return
                self._moved.clear()
                await self._moved.wait()
                continue
            if self.pace is not None:
                await self.pace()
            self.reads += 1
            try:
                rows, now = await fetch(self.rest, sync.symbol, read)
            except DatasourceError as exc:
                events = sync.on_read_failed(read, str(exc))
            except Exception as exc:  # a bug or a closed session must not stall the outage
                log.exception("trades %s: %s read failed", sync.symbol, read.kind.value)
                events = sync.on_read_failed(read, f"{type(exc).__name__}: {exc}")
            else:
                events = sync.on_read(read, rows, now)
            self.deliver(events)
