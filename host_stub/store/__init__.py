"""The host's local candle store: final candles in Parquet, exact to the digit, read directly by
pandas, polars, DuckDB and friends (optional extra ``store``, which brings pyarrow).

    from host_stub.store.candle_store import CandleStore

    store = CandleStore("~/candles")
    report = await store.sync("woox", "SPOT_BTC_USDT", 60, start, end, fetch)
    table = store.read_table("woox", "SPOT_BTC_USDT", 60, start, end)

``errors`` holds the store's errors and needs nothing else (so the package itself imports
without pyarrow); ``codec`` the Arrow schema and exact decimal conversion, ``partition`` the
layout, files and atomic writes of one (plugin, symbol, interval), ``candle_store`` the sync and
reads.
"""

from host_stub.store.errors import StoreCorrupt, StoreError, ValueTooWide

__all__ = ["StoreCorrupt", "StoreError", "ValueTooWide"]
