"""One reconnect discipline for every connection of a manager (WOO X limits connections per IP).

A refused handshake, a DNS failure, a handshake or ack timeout is a fact about the exchange or
the path to it, not about one connection: the next connection would meet it too. So the slots do
not retry on their own. Each asks the :class:`Gate` for an attempt, first come first served, and
the gate lets one go when

* fewer than ``window`` attempts are in flight (an attempt lasts from the handshake until the
  connection is healthy, its topics acknowledged, or has failed). The window is 1 after any
  loss or failure and grows by one with each connection that becomes healthy, up to
  :data:`MAX_WINDOW` (1, 2, 4, 8 per round trip): after the exchange dropped everything, one
  connection goes first and the others follow, paced, once it worked; if the exchange is
  refusing, one attempt is wasted, not one per connection;
* after a failure, the shared backoff has passed: while the exchange refuses, it is probed with
  one connection at a time, the delay growing with each failed probe however many slots wait
  (attempts already in flight when a failure is seen add no further step);
* the connection budget has room. While probing, room means one connection more than
  reconnecting every slot would take: that reserve is never spent on probes, so a long refusal
  cannot leave the streams dark for minutes once the exchange accepts again. Rotations, which
  are never urgent, keep the same reserve.

A healthy connection's loss is retried at once (it only resets the window). Slots that wait
are told why, and until when, through the ``notify`` callback they pass (``stale`` statuses).
The gate knows nothing of topics or channels: it counts attempts, verdicts and slots.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Final

from woox_datasource.stream.options import Backoff, ConnectionBudget

MAX_WINDOW: Final = 8
"""Most connection attempts in flight at once when the exchange accepts them."""

_PACING, _PROBING, _BACKOFF, _RESERVE, _BUDGET = range(5)
"""Why an attempt waits (the first is not worth telling anyone: a round trip or two)."""


class Admission:
    """Permission for one connection attempt. Give exactly one verdict: :meth:`succeeded` once
    the connection is healthy, :meth:`failed` if it was refused or died before that, or
    :meth:`release` if it ended for another reason (stopped, session closed). Later calls are
    ignored, so ``release`` in a ``finally`` is always safe."""

    __slots__ = ("_epoch", "_gate", "_open")

    def __init__(self, gate: Gate, epoch: int) -> None:
        self._gate = gate
        self._epoch = epoch
        self._open = True

    def succeeded(self) -> None:
        if self._open:
            self._open = False
            self._gate._succeeded()

    def failed(self, reason: str) -> None:
        if self._open:
            self._open = False
            self._gate._failed(self._epoch, reason)

    def release(self) -> None:
        if self._open:
            self._open = False
            self._gate._released()


class Gate:
    """Admission of connection attempts for one manager (see the module docstring).

    ``slots`` says how many connections the manager keeps (the reserve while probing)."""

    def __init__(
        self, backoff: Backoff, budget: ConnectionBudget, slots: Callable[[], int]
    ) -> None:
        self._backoff = backoff
        self._budget = budget
        self._slots = slots
        self._queue: deque[object] = deque()
        self._changed = asyncio.Event()
        self._in_flight = 0
        self._window = 1
        self._failures = 0
        """Consecutive failed rounds of attempts (0: the exchange accepts, as far as known)."""
        self._epoch = 0
        self._retry_at = -math.inf
        self._last_failure = ""

    # -- asking -------------------------------------------------------------------------------

    async def admit(self, notify: Callable[[str], None]) -> Admission:
        """Wait for a turn (FIFO) and take one connection from the budget. ``notify`` hears why
        the wait is long, once per change of reason."""
        me = object()
        self._queue.append(me)
        told = _PACING
        try:
            while True:
                delay, why = self._blocked(me, urgent=True)
                if delay <= 0.0:
                    self._queue.popleft()
                    return self._take()
                if why != told:
                    told = why
                    if why != _PACING:
                        notify(self._explain(why, delay))
                    if self._queue[0] is me:
                        self._poke()  # the first one's reason may be everybody's now
                await self._wait(delay)
        finally:
            if me in self._queue:  # cancelled while waiting
                self._queue.remove(me)
                self._poke()

    def try_admit(self) -> Admission | None:
        """An attempt now if nobody waits and the budget keeps its reserve even so (rotations:
        never urgent, never at the cost of a reconnect); else None."""
        if self._queue:
            return None
        me = object()
        self._queue.append(me)
        try:
            delay, _ = self._blocked(me, urgent=False)
        finally:
            self._queue.pop()
        return self._take() if delay <= 0.0 else None

    def lost(self) -> None:
        """A healthy connection was lost: its slot retries at once, others pace behind it."""
        self._window = 1
        self._poke()

    # -- deciding -----------------------------------------------------------------------------

    def _need(self, *, reserve: bool) -> int:
        """Budget room an attempt needs: 1, or while probing (and for rotations) one more than
        a reconnect of every slot, capped at the whole budget."""
        if not reserve:
            return 1
        return min(self._slots() + 1, self._budget.limit)

    def _blocked(self, me: object, *, urgent: bool) -> tuple[float, int]:
        """(0.0, _) if ``me`` may go now, else how long at most until it may (inf: until
        something changes) and why. Only an urgent attempt while the exchange accepts may use
        the budget's reserve."""
        position = self._queue.index(me)
        if self._failures:
            if self._in_flight >= self._window:
                return math.inf, _PROBING
            wait = self._retry_at - asyncio.get_running_loop().time()
            if wait > 0.0:
                return (wait, _BACKOFF) if not position else (math.inf, _PROBING)
            wait = self._budget.wait_s(self._need(reserve=True))
            if wait > 0.0:  # probing is paused for everyone: all are told
                return wait, _RESERVE
            return (math.inf, _PROBING) if position else (0.0, _PACING)
        # Everyone ahead needs one too: a waiter learns when its own connection frees.
        wait = self._budget.wait_s(self._need(reserve=not urgent) + position)
        if wait > 0.0:
            return wait, (_BUDGET if urgent else _RESERVE)
        if position or self._in_flight >= self._window:
            return math.inf, _PACING
        return 0.0, _PACING

    def _take(self) -> Admission:
        self._in_flight += 1
        self._budget.take()
        self._poke()
        return Admission(self, self._epoch)

    def _explain(self, why: int, delay: float) -> str:
        refusing = f"the exchange refuses new connections ({self._last_failure})"
        if why == _PROBING:
            return f"{refusing}; probing it with one connection at a time"
        if why == _BACKOFF:
            return f"{refusing}; next probe in {delay:.1f} s"
        budget = self._budget
        frees = "" if math.isinf(delay) else f" in {delay:.1f} s"
        if why == _RESERVE:
            slots = self._slots()
            return (
                f"{refusing}; probing paused until the connection budget frees{frees}, "
                f"keeping {slots} connection(s) in reserve to reconnect every stream "
                f"({budget.describe()})"
            )
        return f"connection budget exhausted ({budget.describe()}); this one's turn comes{frees}"

    async def _wait(self, delay: float) -> None:
        changed = self._changed
        try:
            async with asyncio.timeout(None if math.isinf(delay) else delay):
                await changed.wait()
        except TimeoutError:
            pass

    def _poke(self) -> None:
        """Something changed: every waiter looks again (there are at most a few dozen)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- verdicts (through Admission) ---------------------------------------------------------

    def _succeeded(self) -> None:
        self._in_flight -= 1
        self._failures = 0
        self._retry_at = -math.inf
        self._window = min(self._window + 1, MAX_WINDOW)
        self._poke()

    def _failed(self, epoch: int, reason: str) -> None:
        self._in_flight -= 1
        self._window = 1
        self._last_failure = reason
        if epoch == self._epoch:  # the first failure seen among attempts started since the last
            self._epoch += 1
            self._failures += 1
            loop_time = asyncio.get_running_loop().time()
            self._retry_at = loop_time + self._backoff.delay(self._failures)
        self._poke()

    def _released(self) -> None:
        self._in_flight -= 1
        self._poke()
