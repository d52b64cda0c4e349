"""A store sync in a process of its own, for tests that interrupt it with a signal.

    python tests/_store_child.py ROOT REST_URL START END ROWS_PER_FILE

Syncs SPOT_BTC_USDT 1m candles of [START, END) from the simulator at REST_URL into the store at
ROOT through the WOO X plugin, printing ``file START END ROWS`` after each file it writes (so the
parent knows when to strike) and ``done`` at the end.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from host_stub.store.candle_store import CandleStore
from host_stub.store.partition import StoredFile
from woox_datasource.plugin import WooXDatasource


async def main(root: str, rest_url: str, start: int, end: int, rows_per_file: int) -> None:
    plugin = WooXDatasource()
    plugin.configure(settings={"rest_url": rest_url})

    def written(stored: StoredFile) -> None:
        print(f"file {stored.start} {stored.end} {stored.rows}", flush=True)

    async with aiohttp.ClientSession() as session:
        store = CandleStore(root, rows_per_file=rows_per_file)
        await store.sync(
            "woox",
            "SPOT_BTC_USDT",
            60,
            start,
            end,
            lambda request: plugin.fetch_history(session, request),
            on_file=written,
        )
    print("done", flush=True)


if __name__ == "__main__":
    root, url, start, end, rows = sys.argv[1:6]
    asyncio.run(main(root, url, int(start), int(end), int(rows)))
