"""What the simulator saw: every REST request and every WebSocket frame a client sent.

Tests assert on these (was the rate budget respected at arrival? did the client send PINGs?), so
each record carries the monotonic arrival time, the same clock the rate limiter uses."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define
class RequestRecord:
    """One REST request, recorded on arrival; ``status`` is filled in once it is answered.

    ``status`` stays 0 if the request was cut off (a ``disconnect`` fault, or the client went away
    during injected latency). ``rate_limited`` marks requests answered 429 by the sliding window
    (not by an injected fault, whose name is in ``fault``)."""

    time: float
    path: str
    query: dict[str, str]
    remote: str
    market_ms: int
    status: int = 0
    rate_limited: bool = False
    fault: str | None = None


@attrs.frozen
class WsRecord:
    """One frame received from a WebSocket client.

    ``kind`` is ``text``, ``binary``, ``ping`` or ``pong`` (protocol-level ping/pong frames count as
    traffic for the idle timeout, as on the real exchange). ``parsed`` is the decoded JSON of a text
    frame, or None when it was not JSON."""

    time: float
    connection_id: int
    kind: str
    text: str
    parsed: Any
