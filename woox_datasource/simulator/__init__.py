"""A WOO X v3 public API simulator (REST + WebSocket) on loopback, with fault injection.

It stands in for the real exchange in tests, demos and benchmarks, and encodes every message on its
own: it never imports the plugin (``wire``, ``timeframes``, ``rest``, ``stream``, ``plugin``) nor
the host, so a test against it checks the plugin against an independent reading of the API.

    async with WooXSimulator(speed=60) as sim:
        ...  # sim.rest_url, sim.ws_url, sim.candles(...), sim.faults.fail_next(2)

Run one by hand with ``python -m woox_datasource.simulator --port 0 --speed 60`` (``--venue``
for 313 instruments like WOO X's; in code ``WooXSimulator(symbols=venue_symbols())``).
"""

from .blast import BlastReport
from .faults import MALFORMED_KINDS, REST_FAULT_KINDS, Faults
from .intervals import REST_TYPES, WS_TYPES
from .market import MarketClock, SimCandle
from .records import RequestRecord, WsRecord
from .server import WooXSimulator
from .venue import venue_symbols
from .ws import WsStats

__all__ = [
    "MALFORMED_KINDS",
    "REST_FAULT_KINDS",
    "REST_TYPES",
    "WS_TYPES",
    "BlastReport",
    "Faults",
    "MarketClock",
    "RequestRecord",
    "SimCandle",
    "WooXSimulator",
    "WsRecord",
    "WsStats",
    "venue_symbols",
]
