"""The request budget every REST call of one plugin instance draws from.

WOO X allows 10 public requests per second per IP and counts them as they *arrive*, after network
jitter. Pacing exactly 10 per 1.0 s by the local clock therefore still draws 429s whenever an
early request is delayed more than a later one. The budget keeps a sliding window of the times
requests were actually let go (not when they were planned: a busy event loop may release a
request late, and the window must hold what really went out), with a small margin, and adapts:
a 429 widens the margin and pauses every grant for one window (the exchange's window is full),
and the extra margin decays back with a half-life, so a burst of jitter costs throughput briefly.

Waiters are served by priority, lowest first, and in arrival order among equals. A priority is a
tuple; work that cares sets it for its task (:func:`set_priority`) rather than passing it through
every call, so the REST client needs no parameter for it. Requests without one (a host's history
call) have the empty tuple, which goes before every explicit priority: somebody is waiting for
them right now. The live streams use this to heal the streams a consumer watches most closely
first after a reconnect (candle fills: ``(0, interval_s, gap_start_ms)``; shortest interval,
then oldest gap), and a later channel ranks its own work by its first element.

Nothing is bound to an event loop and nothing is reserved ahead: a waiter that is cancelled
leaves no trace. Only the first waiter watches the clock; it wakes the next one when it has its
grant, so a long queue costs nothing while it waits.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

Priority = tuple[float, ...]
"""Lower goes first; compared as tuples."""

_PRIORITY: ContextVar[Priority] = ContextVar("woox_rest_priority", default=())


def set_priority(priority: Priority) -> None:
    """Give the REST requests of the current task (and of the tasks it starts afterwards)
    ``priority``. A task's context is its own, so this never leaks into its caller."""
    _PRIORITY.set(priority)


class _Waiter:
    __slots__ = ("key", "woken")

    def __init__(self, priority: Priority, seq: int) -> None:
        self.key = (priority, seq)
        self.woken = asyncio.Event()

    def __lt__(self, other: _Waiter) -> bool:
        return self.key < other.key


class RateBudget:
    """At most ``max_requests`` grants in any ``per_seconds + margin`` window.

    ``margin_s`` is the resting margin (small: loopback and a nearby exchange add little jitter);
    each 429 adds ``penalty_s`` (up to ``max_margin_s`` extra), decaying with ``half_life_s``."""

    def __init__(
        self,
        max_requests: int = 10,
        per_seconds: float = 1.0,
        margin_s: float = 0.03,
        *,
        penalty_s: float = 0.1,
        max_margin_s: float = 0.5,
        half_life_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1 or per_seconds <= 0 or margin_s < 0:
            raise ValueError("RateBudget needs max_requests >= 1, per_seconds > 0, margin_s >= 0")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self.base_margin_s = margin_s
        self.penalty_s = penalty_s
        self.max_margin_s = max_margin_s
        self.half_life_s = half_life_s
        self._clock = clock
        self._sent: deque[float] = deque(maxlen=max_requests)  # ascending grant times
        self._extra_s = 0.0  # adaptive margin on top of the base, as of _extra_at
        self._extra_at = 0.0
        self._paused_until = -math.inf
        self._waiters: list[_Waiter] = []  # a heap: the first is served next
        self._seq = itertools.count()
        self.granted = 0
        """Grants so far (requests let go, plus :meth:`charge`)."""
        self.rate_limited_count = 0
        """How many 429s the budget was told about (for diagnostics and benchmarks)."""

    @property
    def margin_s(self) -> float:
        """The current margin: the resting margin plus what recent 429s added (decaying)."""
        return self.base_margin_s + self._extra(self._clock())

    def _extra(self, now: float) -> float:
        if self._extra_s <= 0.0:
            return 0.0
        return self._extra_s * math.exp2(-max(0.0, now - self._extra_at) / self.half_life_s)

    def _grant(self, now: float) -> None:
        self._sent.append(max(now, self._sent[-1]) if self._sent else now)
        self.granted += 1

    def try_acquire(self) -> float:
        """Take a grant now and return 0.0, or return how many seconds until one may be free.
        (Looks at the window only: :meth:`acquire` is what queues by priority.)"""
        now = self._clock()
        at = self._paused_until
        if len(self._sent) == self.max_requests:
            window = self.per_seconds + self.base_margin_s + self._extra(now)
            at = max(at, self._sent[0] + window)
        if at > now:
            return at - now
        self._grant(now)
        return 0.0

    async def acquire(self, priority: Priority | None = None) -> None:
        """Wait for a grant: lowest ``priority`` first (default: the task's, see
        :func:`set_priority`), then first come. Re-checked on every wake-up, so a 429 meanwhile
        is respected."""
        if not self._waiters and self.try_acquire() == 0.0:
            return
        me = _Waiter(_PRIORITY.get() if priority is None else priority, next(self._seq))
        heapq.heappush(self._waiters, me)
        try:
            while True:
                me.woken.clear()
                if self._waiters[0] is not me:
                    await me.woken.wait()  # the one before us wakes us when it is served
                    continue
                delay = self.try_acquire()
                if delay == 0.0:
                    heapq.heappop(self._waiters)
                    return
                # A better waiter arriving meanwhile just waits its turn here: we wake at the
                # time the window frees, find it first, and let it go (it wakes first as well).
                try:
                    async with asyncio.timeout(delay):
                        await me.woken.wait()
                except TimeoutError:
                    pass
        finally:
            if me in self._waiters:  # cancelled
                self._waiters.remove(me)
                heapq.heapify(self._waiters)
            if self._waiters:
                self._waiters[0].woken.set()

    def queued_ahead(self, priority: Priority) -> int:
        """Waiters a request of ``priority`` made now would wait behind."""
        return sum(1 for w in self._waiters if w.key[0] <= priority)

    def charge(self) -> None:
        """Count a request that went out without :meth:`acquire`: aiohttp silently re-sends an
        idempotent request once when the connection drops, and the exchange counts both."""
        self._grant(self._clock())

    def on_rate_limited(self) -> None:
        """The exchange answered 429: widen the margin and pause grants for one window."""
        now = self._clock()
        self.rate_limited_count += 1
        self._extra_s = min(self.max_margin_s, self._extra(now) + self.penalty_s)
        self._extra_at = now
        self._paused_until = max(self._paused_until, now + self.per_seconds)
