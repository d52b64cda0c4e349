"""Reading times and durations the way a terminal user types them.

The contract speaks epoch milliseconds; people type ``2024-03-01``, ``2024-03-01T12:00+02:00``,
``-7d`` or ``now``. Everything here is UTC unless an offset is given.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


class TimeSyntaxError(ValueError):
    """A time or duration the user typed could not be read."""


def parse_duration_ms(text: str) -> int:
    """``90s``, ``15m``, ``4h``, ``7d``, ``2w`` -> milliseconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise TimeSyntaxError(
            f"cannot read duration {text!r}: use a positive number and one of s, m, h, d, w "
            "(e.g. 90m, 7d)"
        )
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_time_ms(text: str, *, now_ms: int) -> int:
    """ISO-8601 (naive means UTC), epoch milliseconds, ``now``, or ``-7d`` (relative to now)."""
    value = text.strip()
    if value == "now":
        return now_ms
    if value.startswith("-"):
        return now_ms - parse_duration_ms(value[1:])
    if value.isdigit():
        if len(value) < 12:
            raise TimeSyntaxError(
                f"cannot read time {text!r}: a bare number must be epoch milliseconds "
                "(13 digits, e.g. 1704067200000)"
            )
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TimeSyntaxError(
            f"cannot read time {text!r}: use ISO-8601 (2024-01-31 or 2024-01-31T12:00:00Z), "
            "epoch milliseconds, 'now', or a relative time such as -7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def format_ms(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string (seconds precision, ``Z`` suffix)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
