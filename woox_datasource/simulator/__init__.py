"""A WOO X v3 public API simulator (REST + WebSocket) on loopback, with fault injection.

It stands in for the real exchange in tests, demos and benchmarks, and encodes every message on its
own: it never imports the plugin (``wire``, ``timeframes``, ``rest``, ``stream``, ``plugin``) nor
the host, so a test against it checks the plugin against an independent reading of the API.

    async with WooXSimulator(speed=60) as sim:
        ...  # sim.rest_url, sim.ws_url, sim.candles(...), sim.faults.fail_next(2)

Every public v3 channel is served (klines, trades, bbo/bborpi, ticker, mark and index price,
funding estimate, open interest, the incremental book with its ``prevTs`` chain, orderbook10)
with its REST counterparts; the truth a client must deliver is ``sim.trades``, ``sim.book``,
``sim.bbo``, ``sim.ticker``, ``sim.mark_price``, ``sim.index_price``, ``sim.funding``,
``sim.settlement``, ``sim.open_interest`` (see ``truth``).

Run one by hand with ``python -m woox_datasource.simulator --port 0 --speed 60`` (``--venue``
for 313 instruments like WOO X's; in code ``WooXSimulator(symbols=venue_symbols())``).
"""

from .blast import BlastReport
from .clock import MarketClock
from .derivs import Funding, OpenInterest, Settlement
from .faults import MALFORMED_KINDS, REST_FAULT_KINDS, Faults
from .intervals import REST_TYPES, WS_TYPES
from .records import RequestRecord, WsRecord
from .rolling import Ticker
from .server import WooXSimulator
from .trades import SimTrade
from .truth import SimBook, SimQuote
from .units import SimCandle
from .venue import venue_symbols
from .ws import WsStats

__all__ = [
    "MALFORMED_KINDS",
    "REST_FAULT_KINDS",
    "REST_TYPES",
    "WS_TYPES",
    "BlastReport",
    "Faults",
    "Funding",
    "MarketClock",
    "OpenInterest",
    "RequestRecord",
    "Settlement",
    "SimBook",
    "SimCandle",
    "SimQuote",
    "SimTrade",
    "Ticker",
    "WooXSimulator",
    "WsRecord",
    "WsStats",
    "venue_symbols",
]
