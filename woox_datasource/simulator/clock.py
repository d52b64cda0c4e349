"""Market time: the simulated exchange's clock, which may run faster than real time or stand still.

Candles close, pushes fire and REST ``timestamp`` values are taken from it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class MarketClock:
    """Market time in integer ms, running ``speed`` times faster than real (monotonic) time.

    The exchange's clock in the simulator: candles close, pushes fire and REST ``timestamp``
    values are taken from it. ``speed`` may change at any moment without a jump in ``now_ms``;
    ``speed == 0`` freezes the market (useful to pin a test to one candle).

    Whoever schedules work on market time (the WebSocket pushers sleep until their next due
    instant) registers a listener: it is called after every jump or speed change, so a sleeper
    re-reads the clock instead of waking on a timer computed from the old pace."""

    def __init__(self, start_ms: int, speed: float = 1.0) -> None:
        self._anchor_ms = float(start_ms)
        self._anchor_mono = time.monotonic()
        self._speed = _checked_speed(speed)
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _precise_ms(self) -> float:
        return self._anchor_ms + (time.monotonic() - self._anchor_mono) * 1000.0 * self._speed

    def now_ms(self) -> int:
        return math.floor(self._precise_ms())

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        speed = _checked_speed(value)
        self._anchor_ms = self._precise_ms()
        self._anchor_mono = time.monotonic()
        self._speed = speed
        self._changed()

    def advance(self, ms: int) -> None:
        """Jump ``ms`` market milliseconds ahead (never back: market time is monotonic)."""
        if ms < 0:
            raise ValueError(f"market time only moves forward; advance({ms}) is negative")
        self._anchor_ms += ms
        self._changed()

    def real_seconds_until(self, market_ms: int) -> float:
        """Real seconds until the market clock reaches ``market_ms`` (0 if already there)."""
        gap = market_ms - self._precise_ms()
        if gap <= 0:
            return 0.0
        return math.inf if self._speed == 0 else gap / (1000.0 * self._speed)


def _checked_speed(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"clock speed must be a finite number >= 0, got {value!r}")
    return float(value)
