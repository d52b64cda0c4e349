"""Fault injection: the ways the real exchange (or the network to it) misbehaves, on demand.

REST faults are queued per request; WebSocket faults are counters and real-time windows shared by
every connection. All state is plain data so tests can inspect it; the simulator applies it."""

from __future__ import annotations

import collections
import math
import time

import attrs

REST_FAULT_KINDS = ("internal", "rate_limit", "http", "gateway", "disconnect", "truncated")
"""What an injected REST failure looks like:

* ``internal``: HTTP 500 ``{"success":false,"code":-1000,"message":"The server encountered an
  internal error, request id: ..."}`` (the observed v3 5xx body);
* ``rate_limit``: HTTP 429 ``{"success":false,"code":-1003,"message":"Rate limit exceed."}``;
* ``http``: the given HTTP status with a non-JSON HTML body, as a load balancer in front of the
  exchange answers (502/503/504);
* ``gateway``: HTTP **200** ``{"code":503,"message":"[GW] no upstream server"}``, no ``success``;
* ``disconnect``: the TCP connection is aborted without any response (aiohttp clients retry an
  idempotent request once in that case, so it takes two to fail one call);
* ``truncated``: HTTP 200 with a JSON body cut off mid-way.
"""

MALFORMED_KINDS = ("bad_json", "missing_fields", "wrong_types", "unknown_topic", "not_object")
"""The malformed frames :meth:`Faults.inject_malformed` cycles through."""


@attrs.frozen
class RestFault:
    kind: str
    status: int


class BookFaults:
    """Order book faults, mixed into :class:`Faults`."""

    book_losses: list[str | None]
    book_lag_ms: int
    book_lag_until: float

    def lose_book_deltas(self, n: int = 1, topic: str | None = None) -> None:
        """Drop the next ``n`` book deltas (``orderbookupdate*`` pushes), each on the one
        connection that was about to send it: that client's ``prevTs`` chain breaks there
        while every other connection's stays whole. ``topic`` limits it to one topic."""
        self.book_losses.extend([topic] * _count(n))

    def take_book_loss(self, topic: str) -> bool:
        for i, wanted in enumerate(self.book_losses):
            if wanted is None or wanted == topic:
                del self.book_losses[i]
                return True
        return False

    def lag_book_snapshots(self, lag_ms: int, seconds: float) -> None:
        """For ``seconds`` of real time, REST ``orderbook`` serves the book as it was ``lag_ms``
        of market time earlier, with that older book's ``timestamp`` (WOO X's busy books lagged
        the socket by up to 47 s): a client seeding then waits, or reports the book stale."""
        if lag_ms < 0:
            raise ValueError(f"a snapshot lag must be >= 0 ms, got {lag_ms}")
        self.book_lag_ms = lag_ms
        self.book_lag_until = time.monotonic() + _seconds(seconds)

    def snapshot_lag_ms(self) -> int:
        return self.book_lag_ms if time.monotonic() < self.book_lag_until else 0


class Faults(BookFaults):
    """Pending faults. ``latency_s`` delays every REST answer (after the request was recorded and
    counted by the rate limiter, which works on arrival times like the real one)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Drop every pending fault, remove latency, and end any silence or refusal window."""
        self.latency_s: float = 0.0
        self.pending_rest: collections.deque[RestFault] = collections.deque()
        self.silent_until = -math.inf
        self.refuse_until = -math.inf
        self.refuse_status = 503
        self.malformed_pending = 0
        self.malformed_replace = False
        self.duplicate_pending = 0
        self.book_losses: list[str | None] = []
        self.book_lag_ms = 0
        self.book_lag_until = -math.inf

    def fail_next(self, n: int = 1, status: int = 500, *, kind: str | None = None) -> None:
        """Answer the next ``n`` REST calls with a failure (queued after any already pending).

        Without ``kind``, the status picks it: 500 -> ``internal``, 429 -> ``rate_limit``, any
        other status -> ``http``. ``kind="gateway"``, ``"disconnect"`` and ``"truncated"`` ignore
        ``status``."""
        if n < 0:
            raise ValueError(f"fail_next needs n >= 0, got {n}")
        if kind is None:
            kind = {500: "internal", 429: "rate_limit"}.get(status, "http")
        if kind not in REST_FAULT_KINDS:
            raise ValueError(f"unknown REST fault kind {kind!r}; known: {REST_FAULT_KINDS}")
        if kind == "http" and not 400 <= status <= 599:
            raise ValueError(f"an http fault needs an error status 400..599, got {status}")
        fixed = {"internal": 500, "rate_limit": 429, "gateway": 200, "truncated": 200}
        fault = RestFault(kind, fixed.get(kind, status))
        self.pending_rest.extend([fault] * n)

    def take_rest_fault(self) -> RestFault | None:
        return self.pending_rest.popleft() if self.pending_rest else None

    def go_silent(self, seconds: float) -> None:
        """For ``seconds`` of real time, send nothing on any WebSocket: pushes, acks and pongs in
        that window are lost, not queued. Connections stay open; commands still take effect."""
        self.silent_until = time.monotonic() + _seconds(seconds)

    def is_silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def refuse_connections(self, seconds: float, status: int = 503) -> None:
        """Refuse WebSocket handshakes with HTTP ``status`` for ``seconds`` of real time."""
        self.refuse_until = time.monotonic() + _seconds(seconds)
        self.refuse_status = status

    def is_refusing(self) -> bool:
        return time.monotonic() < self.refuse_until

    def inject_malformed(self, n: int, *, replace: bool = False) -> None:
        """Precede the next ``n`` pushes with a malformed frame (cycling through
        :data:`MALFORMED_KINDS`); with ``replace=True`` the malformed frame takes the push's
        place and the push is lost."""
        self.malformed_pending = _count(n)
        self.malformed_replace = replace

    def duplicate_pushes(self, n: int) -> None:
        """Send each of the next ``n`` pushes twice in a row."""
        self.duplicate_pending = _count(n)


def _seconds(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a fault duration must be a finite number of seconds >= 0, got {value}")
    return value


def _count(n: int) -> int:
    if n < 0:
        raise ValueError(f"a fault count must be >= 0, got {n}")
    return n
