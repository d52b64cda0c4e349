"""The request budget every REST call of one plugin instance draws from.

WOO X allows 10 public requests per second per IP and counts them as they *arrive*, after network
jitter. Pacing exactly 10 per 1.0 s by the local clock therefore still draws 429s whenever an
early request is delayed more than a later one. The budget keeps a sliding window of grant times
with a small margin, and adapts: a 429 widens the margin (and pauses all grants for one window,
since the exchange's window is full), and the extra margin decays back with a half-life, so a
transient burst of jitter costs throughput only briefly.

Grants are reserved synchronously (no lock, nothing bound to an event loop), first come first
served: each caller computes its slot, records it, then sleeps until it.
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
    each 429 adds ``penalty_s`` (up to ``max_margin_s``), decaying with ``half_life_s``."""

    def __init__(
        self,
        max_requests: int = 10,
        per_seconds: float = 1.0,
        margin_s: float = 0.025,
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
        self._grants: deque[float] = deque(maxlen=max_requests)
        self._extra_s = 0.0  # adaptive margin on top of the base, as of _extra_at
        self._extra_at = 0.0
        self._paused_until = 0.0
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

    def reserve(self) -> float:
        """Claim the next free slot and return its (clock) time; may be in the future."""
        now = self._clock()
        at = max(now, self._paused_until)
        if self._grants:
            at = max(at, self._grants[-1])  # first come, first served
        if len(self._grants) == self.max_requests:
            at = max(at, self._grants[0] + self.per_seconds + self.base_margin_s + self._extra(now))
        self._grants.append(at)
        return at

    async def acquire(self) -> None:
        """Wait for a slot. Cancelling the wait gives the slot up (it simply goes unused).

        A 429 reported while we waited means our slot was planned against a window the exchange
        already considers full, so we queue again behind the pause."""
        while True:
            pauses = self.rate_limited_count
            delay = self.reserve() - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if pauses == self.rate_limited_count:
                return

    def on_rate_limited(self) -> None:
        """The exchange answered 429: widen the margin and pause grants for one window."""
        now = self._clock()
        self.rate_limited_count += 1
        self._extra_s = min(self.max_margin_s, self._extra(now) + self.penalty_s)
        self._extra_at = now
        self._paused_until = max(self._paused_until, now + self.per_seconds)
