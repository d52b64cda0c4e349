"""Live candles from WOO X's v3 public WebSocket: final exactly once, gapless, bounded, alive.

Layout (each module holds one idea):

* ``manager``: :class:`StreamManager`, streams in, topics shared, connections pooled per session;
* ``slot``: one logical connection (up to 100 topics) kept subscribed across reconnects and
  make-before-break rotation, within the connection budget;
* ``handover``: moving topics from a rotated-out connection to its replacement, in order;
* ``connection``: one WebSocket, acks matched by id, PINGs, silence detection;
* ``topic``: one (symbol, interval) shared by its streams, gap fills and fan-out;
* ``candles``: the finality/continuity state machine (pure, exchange timestamps only);
* ``live``: :class:`LiveStream`, the consumer's side, backfill and catch-up;
* ``queue``: the bounded, conflating event queue;
* ``history``: REST reads for fills (with the ``3d``-from-``1d`` derivation);
* ``options`` and ``stats``: :class:`StreamOptions`, pacing rules, counters.
"""

from woox_datasource.stream.live import LiveStream
from woox_datasource.stream.manager import StreamManager
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.stats import StreamStats

__all__ = ["LiveStream", "StreamManager", "StreamOptions", "StreamStats"]
