"""Reading times and durations the way a terminal user types them, and writing them back.

The contract speaks epoch milliseconds; people type ``2024-03-01``, ``2024-03-01T12:00+02:00``,
``-7d``, ``-1.5h`` or ``now``, and read ISO-8601 UTC. Relative times count back from the local
clock. Months and years are calendar steps (``-1M`` from 31 March is the last day of February),
so they take whole numbers only.

``--tz`` changes the zone people read and type in: inside :func:`display_zone`, times are written
with that zone's offset (``2024-01-31T13:00:00+01:00``) and a time typed without an offset means
that zone's wall clock. The zone is a context variable, set once per command by ``main``.
"""

from __future__ import annotations

import calendar
import contextlib
import math
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FIXED_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_CALENDAR_MONTHS = {"M": 1, "y": 12}
UNITS = "s (seconds), m (minutes), h (hours), d (days), w (weeks), M (months), y (years)"
"""Every unit a relative time takes, as the help and the README list them."""

_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)([smhdwMy])$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$")
_TIME_FORMS = (
    "ISO-8601 (2024-01-31 or 2024-01-31T12:00:00Z; naive means UTC or --tz), epoch milliseconds "
    "(1704067200000), 'now', or a time relative to now such as -7d or -1.5h"
)


class TimeSyntaxError(ValueError):
    """A time or duration the user typed could not be read, or makes no sense."""


_ZONE: ContextVar[tzinfo] = ContextVar("display_zone", default=UTC)


def zone_named(name: str) -> tzinfo:
    """``UTC`` or an IANA zone name (``Europe/Berlin``) -> the zone, or a TimeSyntaxError."""
    if name.strip().upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeSyntaxError(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or "
            "America/New_York, or UTC"
        ) from None


@contextlib.contextmanager
def display_zone(zone: tzinfo) -> Iterator[None]:
    """Write and read times in ``zone`` for the duration of the block."""
    token = _ZONE.set(zone)
    try:
        yield
    finally:
        _ZONE.reset(token)


def current_zone() -> tzinfo:
    return _ZONE.get()


def zone_label() -> str:
    """The display zone's name: ``UTC``, ``Europe/Berlin``."""
    zone = _ZONE.get()
    return getattr(zone, "key", None) or str(zone)


def ago_ms(text: str, *, now_ms: int) -> int:
    """``now_ms`` moved back by an amount such as ``90s``, ``1.5h``, ``7d``, ``1M`` or ``1y``."""
    match = _AMOUNT.match(text.strip())
    if match is None:
        raise TimeSyntaxError(
            f"cannot read {text!r} as an amount of time: use a positive number and a unit, "
            f"one of {UNITS} (e.g. 90m, 1.5h, 7d)"
        )
    number, unit = float(match.group(1)), match.group(2)
    if number == 0:
        raise TimeSyntaxError(f"{text!r} is no time at all: use a positive amount such as 1{unit}")
    if unit in _FIXED_MS:
        return now_ms - round(number * _FIXED_MS[unit])
    if not number.is_integer():
        raise TimeSyntaxError(
            f"cannot read {text!r}: months (M) and years (y) are calendar steps and take whole "
            "numbers; use days for fractions (e.g. -45d)"
        )
    return _months_back(now_ms, int(number) * _CALENDAR_MONTHS[unit])


def _months_back(now_ms: int, months: int) -> int:
    """The same day and time ``months`` calendar months earlier (the day clamped to the month's
    length), in UTC."""
    now = _EPOCH + timedelta(milliseconds=now_ms)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    if year < 1970:
        raise TimeSyntaxError(f"{months} months before now is before 1970")
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return _to_ms(now.replace(year=year, month=month + 1, day=day))


def parse_time_ms(text: str, *, now_ms: int) -> int:
    """A point in time as the user wrote it -> epoch milliseconds (see ``_TIME_FORMS``)."""
    value = text.strip()
    if value == "now":
        return now_ms
    if value.startswith("-"):
        return ago_ms(value[1:], now_ms=now_ms)
    if value.isdigit():
        if len(value) < 12:
            raise TimeSyntaxError(
                f"cannot read time {text!r}: a bare number must be epoch milliseconds "
                f"(13 digits, e.g. {int(value) * 1000} for {value} seconds)"
            )
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TimeSyntaxError(f"cannot read time {text!r}: use {_TIME_FORMS}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_ZONE.get())
    return _to_ms(parsed)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_ms(moment: datetime) -> int:
    """Exact: ``timestamp() * 1000`` in floats is off by one for some milliseconds."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_since_ms(text: str, *, now_ms: int) -> int:
    """A start given either as an amount back from now (``2h``, ``-2h``) or as a time."""
    value = text.strip()
    if _AMOUNT.match(value):
        return ago_ms(value, now_ms=now_ms)
    return parse_time_ms(value, now_ms=now_ms)


def parse_seconds(text: str) -> float:
    """A positive, finite length of time in seconds: ``15``, ``2.5``, ``90s``, ``2m``, ``1h``."""
    match = _SECONDS.match(text.strip())
    seconds = float(match.group(1)) * _FIXED_MS[match.group(2) or "s"] / 1000 if match else math.nan
    if not 0 < seconds < math.inf:
        raise TimeSyntaxError(
            f"{text!r} is not a length of time: give a positive number of seconds "
            "(e.g. 15, 2.5, 90s, 2m, 1h)"
        )
    return seconds


def format_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC, ``2024-01-31T12:00:00Z`` (or with the offset of the
    :func:`display_zone`, ``2024-01-31T13:00:00+01:00``); milliseconds are shown only when there
    are any. The one way every time is written, in data and in messages."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    zone = _ZONE.get()
    if zone is not UTC:
        return moment.astimezone(zone).isoformat(
            timespec="milliseconds" if ms % 1000 else "seconds"
        )
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_span(start_ms: int, end_ms: int) -> str:
    """``[start, end)`` the way messages show a range."""
    return f"[{format_ms(start_ms)}, {format_ms(end_ms)})"


def format_seconds(seconds: float) -> str:
    """A duration for people: ``45 s``, ``1 h 30 min``, ``2 d``."""
    total = round(seconds)
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if total >= size:
            whole, rest = divmod(total, size)
            smaller = {"d": (3_600, "h"), "h": (60, "min"), "min": (1, "s")}[unit]
            part = rest // smaller[0]
            return f"{whole} {unit}" + (f" {part} {smaller[1]}" if part else "")
    return f"{seconds:.1f} s" if seconds < 10 else f"{total} s"
