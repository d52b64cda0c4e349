"""Tuning knobs of the live stream, and the two pacing rules that protect WOO X's limits.

The defaults follow the exchange's documented and probed limits (see woox-api.md §5): a socket
that sends nothing for ~60 s is dropped, so we PING every 10 s; at most 100 new connections per
5 minutes per IP, or the IP is banned; every connection is cut at 24 h, so we rotate at 23 h.
Tests shrink the timings; nothing here reads the market clock.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import attrs

from host_stub.spec import InvalidRequest
from woox_datasource import wire


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise InvalidRequest(f"StreamOptions.{attribute.name} must be > 0, got {value!r}")


def _topics_per_connection(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 1 <= value <= wire.MAX_TOPICS_PER_CONNECTION:
        raise InvalidRequest(
            f"StreamOptions.{attribute.name} must be 1..{wire.MAX_TOPICS_PER_CONNECTION} "
            f"(WOO X's limit per connection), got {value!r}"
        )


@attrs.frozen(kw_only=True)
class StreamOptions:
    """How the stream manager paces, detects death, reconnects and buffers.

    Times are seconds of local monotonic time (connection management only; candle logic uses the
    exchange's timestamps)."""

    ping_interval_s: float = attrs.field(default=10.0, validator=_positive)
    """Send ``{"cmd":"PING"}`` this often (the server drops a client that sends nothing)."""
    silence_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    """No frame at all (push, pong, ack) for this long: the connection is dead, replace it.
    Must exceed ``ping_interval_s``: our PINGs are what make a quiet market talk back."""
    ack_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    """A SUBSCRIBE / UN_SUBSCRIBE unanswered this long means the connection is broken."""
    connect_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    close_timeout_s: float = attrs.field(default=1.0, validator=_positive)
    """How long a closing handshake may take before the socket is simply dropped (connections
    closed in the background: rotated out, or found broken). Stopping never waits this long: it
    sends the close frame and waits at most :data:`STOP_CLOSE_WAIT_S` for the answer."""
    backoff_initial_s: float = attrs.field(default=0.5, validator=_positive)
    """Delay after the first failed attempt (about; jittered), doubling with each further one.
    Only failures grow it: an attempt that is refused, times out or fails its handshake or
    acks, and a connection that dies before it was healthy (subscribed and acknowledged). The
    loss of a healthy connection is retried at once, however recent the previous loss; the
    connection budget is what guards the exchange's limit."""
    backoff_max_s: float = attrs.field(default=10.0, validator=_positive)
    """The longest wait between probes of an exchange that refuses, so the longest a stream may
    stay dark after the exchange accepts again (plus its gap fill). 10 s is at most 30 probes
    per 5 minutes, a third of WOO X's connection budget, and the budget's reserve bounds them
    anyway (see ``stream/gate.py``)."""
    max_new_connections: int = attrs.field(default=100, validator=_positive)
    """New connections (attempts, refused ones included) allowed per ``connection_window_s``:
    WOO X's limit per IP. One connection per slot is kept in reserve: failing attempts never
    spend what reconnecting every connection needs (see ``stream/gate.py``)."""
    connection_window_s: float = attrs.field(default=300.0, validator=_positive)
    topics_per_connection: int = attrs.field(
        default=wire.MAX_TOPICS_PER_CONNECTION, validator=_topics_per_connection
    )
    """Topics a connection carries before another opens: WOO X's limit (100) by default; fewer
    spread a venue over more connections (smaller loss per drop, more of the budget per drop)."""
    max_connection_life_s: float = attrs.field(default=23 * 3600.0, validator=_positive)
    """Rotate (make-before-break) before WOO X's 24 h cut."""
    rotation_overlap_s: float = attrs.field(default=10.0, validator=_positive)
    """Longest time both connections of a rotation run side by side. Topics the old connection
    has not caught up on by then are handed over anyway (a final only it still owed would then
    be read from REST)."""
    queue_capacity: int = attrs.field(default=10_000, validator=_positive)
    """Per-stream events waiting for the consumer. Provisional updates are conflated per
    candle; finals beyond this are not kept in memory but re-read from history later."""
    fill_deadline_s: float = attrs.field(default=60.0, validator=_positive)
    """How long a gap fill keeps retrying REST before it reports the gap unfillable."""
    fill_lag_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    """Extra reads when history lacks the newest closed candles (REST may lag the socket)."""
    fill_lag_delay_s: float = attrs.field(default=0.5, validator=_positive)
    stale_after_s: float = attrs.field(default=15.0, validator=_positive)
    """A latest-value channel with a forced cadence (open interest: WOO X pushes it at least
    every 10 s) that hears no push for this long while its connection is alive is reported
    ``stale`` (the cadence plus a margin for the network)."""
    derive_3d: bool = False
    """Fill gaps of the live-only ``3d`` timeframe with the aggregate of three ``1d`` history
    candles instead of reporting them unfillable. Off by default: it assumes the exchange's 3d
    candle aggregates exactly the trades of its three daily ones, which no source confirms."""
    seed: int | None = None
    """Seed of the reconnect jitter (tests make failures reproducible)."""

    def __attrs_post_init__(self) -> None:
        if self.silence_timeout_s <= self.ping_interval_s:
            raise InvalidRequest(
                f"StreamOptions.silence_timeout_s ({self.silence_timeout_s}) must exceed "
                f"ping_interval_s ({self.ping_interval_s}): pongs are what keep a quiet "
                "connection from looking dead"
            )


STOP_CLOSE_WAIT_S: Final = 0.1
"""When a stream stops, how long its connection waits for the exchange to answer our close frame
before the socket is dropped: the frame goes out either way, and a stop must be immediate."""


class Backoff:
    """Capped, jittered exponential delays after ``failures`` consecutive failures: none is
    immediate, n waits about ``initial * 2**(n-1)`` (capped), scaled by a random factor in
    [0.5, 1] so that many connections failing together do not come back in lockstep. Because
    the factor's range spans exactly one doubling, each delay is at least the previous one's
    nominal value until the cap: the spacing of failed attempts never shrinks."""

    def __init__(self, options: StreamOptions, rng: random.Random) -> None:
        self._initial = options.backoff_initial_s
        self._cap = options.backoff_max_s
        self._rng = rng

    def nominal(self, failures: int) -> float:
        """The delay's upper bound after ``failures`` consecutive failures."""
        if failures <= 0:
            return 0.0
        return min(self._cap, self._initial * 2.0 ** min(failures - 1, 30))

    def delay(self, failures: int) -> float:
        return self.nominal(failures) * self._rng.uniform(0.5, 1.0)


class ConnectionBudget:
    """At most ``limit`` new connections per sliding ``window_s`` (WOO X: 100 per 5 minutes per
    IP, and "extensive retries after hitting limits will result in an IP ban"). Every attempt
    counts, successful or not, because the exchange cannot tell them apart. An attempt leaves
    the window ``margin_s`` after the window's length: the exchange counts handshakes as they
    arrive, and one that took longer to arrive than another must not make them look closer
    together. Bookkeeping only: :class:`~woox_datasource.stream.gate.Gate` decides when an
    attempt may :meth:`take` one."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        margin_s: float = 1.0,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._span = window_s + margin_s
        self._clock = clock
        self._stamps: deque[float] = deque()

    def _prune(self, now: float) -> None:
        stamps, span = self._stamps, self._span
        while stamps and now - stamps[0] >= span:
            stamps.popleft()

    @property
    def used(self) -> int:
        self._prune(self._clock())
        return len(self._stamps)

    def take(self) -> None:
        """Count a connection attempt made now (the caller checked :meth:`wait_s` first)."""
        now = self._clock()
        self._prune(now)
        self._stamps.append(now)

    def wait_s(self, count: int = 1) -> float:
        """Seconds until ``count`` more connections fit (0.0: now)."""
        now = self._clock()
        self._prune(now)
        excess = len(self._stamps) + count - self.limit
        if excess <= 0:
            return 0.0
        if excess > len(self._stamps):
            return math.inf  # more than the whole budget
        return self._stamps[excess - 1] + self._span - now

    def describe(self) -> str:
        return (
            f"at most {self.limit} new connections per {self.window_s:g} s, "
            "the exchange's limit per IP"
        )
