"""A tiny klineHistory server on loopback for the cases the simulator cannot express.

The simulator is the faithful exchange; this one is deliberately unfaithful in controlled ways:
weeks anchored on another weekday, rows shuffled and duplicated, a ``before`` cursor ignored.
It encodes the wire format itself (never via woox_datasource.wire), as the simulator does.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
from aiohttp import web

DAY_MS = 86_400_000


def row(symbol: str, rest_type: str, start: int, end: int, price: int = 100) -> dict[str, object]:
    p = str(price)
    return {
        **{"symbol": symbol, "type": rest_type, "startTimestamp": start, "endTimestamp": end},
        **{"open": p, "close": p, "high": p, "low": p, "volume": "1", "amount": p},
    }


@attrs.define
class OddExchange:
    """Serves ``rows`` (any order) for one symbol/type with the documented cursor semantics,
    unless told to misbehave. ``queries`` records every query string received."""

    rows: list[dict[str, object]]
    shuffle: bool = False
    duplicate: bool = False
    ignore_before: bool = False
    server_ms: int | None = None
    """The reply's ``timestamp`` (default: the end of the newest row, so all rows are closed)."""
    queries: list[dict[str, str]] = attrs.field(factory=list)
    url: str = ""

    async def kline_history(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.queries.append(query)
        limit = int(query.get("limit", "100"))
        rows = sorted(self.rows, key=lambda r: -int(str(r["startTimestamp"])))
        if "before" in query and not self.ignore_before:
            before = int(query["before"])
            rows = [r for r in rows if int(str(r["startTimestamp"])) < before]
        rows = rows[:limit]
        if self.duplicate:
            rows = rows + rows[: len(rows) // 2]
        if self.shuffle:
            random.Random(len(self.queries)).shuffle(rows)
        now = self.server_ms
        if now is None:
            now = max((int(str(r["endTimestamp"])) for r in self.rows), default=0)
        body = {"success": True, "data": {"rows": rows}, "timestamp": now}
        return web.Response(text=json.dumps(body), content_type="application/json")


@asynccontextmanager
async def serve(exchange: OddExchange) -> AsyncIterator[OddExchange]:
    app = web.Application()
    app.router.add_get("/v3/public/klineHistory", exchange.kline_history)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        exchange.url = f"http://127.0.0.1:{port}"
        yield exchange
    finally:
        await runner.cleanup()
