"""The host's local candle store: final candles in Parquet, exact to the digit, read directly by
pandas, polars, DuckDB and friends (optional extra ``store``, which brings pyarrow).

    store = CandleStore("~/candles")
    report = await store.sync("woox", "SPOT_BTC_USDT", 60, start, end, fetch)
    table = store.read_table("woox", "SPOT_BTC_USDT", 60, start, end)

``codec`` holds the Arrow schema and exact decimal conversion, ``partition`` the layout, files and
atomic writes of one (plugin, symbol, interval), ``store`` the sync and reads.
"""

from host_stub.store.codec import ValueTooWide
from host_stub.store.partition import Partition, StoreCorrupt, StoredFile, StoreError
from host_stub.store.store import CandleStore, Fetch, SyncReport

__all__ = [
    "CandleStore",
    "Fetch",
    "Partition",
    "StoreCorrupt",
    "StoreError",
    "StoredFile",
    "SyncReport",
    "ValueTooWide",
]
