"""One module (or a few) per market-data channel: its state machine over pushes and REST.

A channel never opens a socket: the connection layer (``woox_datasource.stream``) routes each push
by topic to the channel that owns it, and REST goes through the shared rate budget. The state
machines here are pure (exchange timestamps only, no I/O), so they are tested without sockets.

* ``book_sync``: the exact order book of one book topic (seed, ``prevTs`` chain, resync, stale);
* ``book_merge``: what a slow consumer of a book has not taken yet, merged without losing a change.
"""
