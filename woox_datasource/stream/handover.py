"""Make-before-break: a slot's topics moving from an old connection to its replacement.

During a rotation both connections carry the same topics for a moment, each in its own order,
and every push reaches its topic's feed tagged with the connection that carried it. What the
feed must do with two sources at once is the channel's business (candles hold the new
connection's pushes until the old one has caught up with them; trades settle the seam between
the two sockets; a latest value simply keeps the newest), so the layer only asks each feed to
say when it no longer needs the old connection. Once every feed has released it (or the
overlap runs out, or either connection ends), the handover finishes and the old connection is
closed; from then on its pushes are no longer routed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from woox_datasource.stream.connection import Connection


class Handover:
    """One rotation of one slot: ``old`` leaves, ``new`` joins, for the topics in ``names``.
    ``reason`` says why (for the feeds' status events)."""

    def __init__(self, old: Connection, new: Connection, names: Iterable[str], reason: str) -> None:
        self.old = old
        self.new = new
        self.reason = reason
        self._waiting = set(names)
        self.done = asyncio.Event()
        """Set once no feed waits for the old connection any more (or one side ended)."""
        if not self._waiting:
            self.done.set()

    @property
    def waiting(self) -> frozenset[str]:
        """Topics whose feeds still need the old connection."""
        return frozenset(self._waiting)

    def release(self, name: str) -> None:
        """The feed of topic ``name`` no longer needs the old connection (idempotent)."""
        self._waiting.discard(name)
        if not self._waiting:
            self.done.set()
