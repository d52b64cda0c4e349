"""The request budget every REST call of one plugin instance draws from.

WOO X allows 10 public requests per second per IP and counts them as they *arrive*, after network
jitter. Pacing exactly 10 per 1.0 s by the local clock therefore still draws 429s whenever an
early request is delayed more than a later one. The budget keeps a sliding window of the times
requests were actually let go (not when they were planned: a busy event loop may release a
request late, and the window must hold what really went out), with a small margin, and adapts:
a 429 widens the margin and pauses every grant for one window (the exchange's window is full),
and the extra margin decays back with a half-life, so a burst of jitter costs throughput briefly.

Nothing is bound to an event loop and nothing is reserved ahead: a waiter that is cancelled
leaves no trace, and every waiter re-checks the window when it wakes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable


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
        """Take a grant now and return 0.0, or return how many seconds until one may be free."""
        now = self._clock()
        at = self._paused_until
        if len(self._sent) == self.max_requests:
            window = self.per_seconds + self.base_margin_s + self._extra(now)
            at = max(at, self._sent[0] + window)
        if at > now:
            return at - now
        self._grant(now)
        return 0.0

    async def acquire(self) -> None:
        """Wait for a grant (re-checked on every wake-up, so a 429 meanwhile is respected)."""
        while (delay := self.try_acquire()) > 0.0:  # noqa: ASYNC110 - a deadline, not a poll
            await asyncio.sleep(delay)

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
