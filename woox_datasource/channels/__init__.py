"""One module (or a few) per market-data channel: its state machine over pushes and REST.

A channel never opens a socket: the connection layer (``woox_datasource.stream``) routes each push
by topic to the channel that owns it, and REST goes through the shared rate budget. The state
machines here are pure (exchange timestamps only, no I/O), so they are tested without sockets.
"""
