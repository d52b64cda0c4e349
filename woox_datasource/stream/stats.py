"""Counters of what the stream saw and did, and a rate-limited logger for the noisy cases.

Malformed frames, duplicates and unknown topics are expected now and then from a real exchange;
each is counted (``StreamManager.stats``) and logged, but a flood of them must neither crash a
stream nor flood the log, hence :class:`LogLimiter`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import attrs

log = logging.getLogger("woox_datasource.stream")


@attrs.define
class StreamStats:
    """Monotonic counters for one :class:`~woox_datasource.stream.StreamManager`."""

    frames: int = 0
    """Text frames received, of every kind."""
    pushes: int = 0
    """Frames that were not control frames (pushes of every channel, malformed ones included)."""
    malformed: int = 0
    """Frames that did not parse (bad JSON, missing or mistyped fields, impossible values)."""
    unknown_topic: int = 0
    """Pushes for a topic no stream wants (e.g. in flight while it was unsubscribed)."""
    unexpected_reply: int = 0
    """Command replies that match no request of ours (including ``cmd: ERROR``)."""
    duplicates: int = 0
    """Pushes identical to one already applied (or repeating a final candle), and pushes of a
    rotated-out connection for topics its replacement carries."""
    stale: int = 0
    """Pushes older than what is already known (for their candle, or their latest value)."""
    late_updates: int = 0
    """Pushes changing a candle after it was final; ignored, since a final never changes."""
    server_pings: int = 0
    pings_sent: int = 0
    connections_opened: int = 0
    connect_failures: int = 0
    connections_lost: int = 0
    rotations: int = 0
    silences: int = 0
    """Connections declared dead for lack of any frame."""
    fills: int = 0
    """REST reads that filled a gap or confirmed a candle whose closing push was missed."""
    gap_candles: int = 0
    """Final candles delivered from REST instead of the socket."""
    gaps_unfillable: int = 0
    conflated: int = 0
    """Provisional updates replaced by a newer one before the consumer took them."""
    overflows: int = 0
    """Times a consumer fell so far behind that its finals were re-read from history."""
    statuses_dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


class LogLimiter:
    """Logs each kind of message at most once per ``interval_s``, with a count of those skipped."""

    def __init__(
        self, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return
        self._last[key] = now
        skipped = self._skipped.pop(key, 0)
        if skipped:
            message += " (%d similar suppressed)"
            args = (*args, skipped)
        log.warning(message, *args)
