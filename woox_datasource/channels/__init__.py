"""One module (or a few) per market-data channel: its state machine over pushes and REST.

A channel never opens a socket: the connection layer (``woox_datasource.stream``) routes each push
by topic to the channel that owns it, and REST goes through the shared rate budget. The state
machines here are pure (exchange timestamps only, no I/O), so they are tested without sockets.

* ``book``: the book channel's spec (``orderbookupdate`` deltas at depth 50/200/500, or the
  pushed ``orderbook10`` with ``depth=10, rpi=True``); ``book_feed`` runs one topic,
  ``book_sync`` keeps it exact (seed, ``prevTs`` chain, resync, stale), ``book_stream`` and
  ``book_merge`` serve a slow consumer merged events without losing a change.
"""
