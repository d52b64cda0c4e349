"""Market time and deterministic candles: the ground truth the simulated exchange serves.

Prices follow one path per symbol, sampled on the minute grid, so every candle of every timeframe
opens where the previous one closed (and a 1h candle opens at the same price as its first 1m
candle). The path is a sum of seeded value-noise octaves (a year down to a quarter hour) plus a
per-minute jitter, each a pure function of the minute number, so any candle is computed in O(1)
without generating its neighbours: a page of 1000 candles from a year of 1m history costs a few ms.

Some minutes are "quiet" (no trades). A 1m-5m candle made only of quiet minutes has zero volume
and ``open == high == low == close == previous close``, as on the real exchange.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import attrs

from .intervals import INTERVALS, MINUTE_MS, Interval

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_OCTAVES = ((525_600, 0.15), (86_400, 0.09), (4_320, 0.05), (240, 0.025), (15, 0.008))
"""(period in minutes, amplitude of log-price): keeps a symbol within about x0.72..x1.38 of its
base price, e.g. BTC between ~61k and ~117k."""
_JITTER = 0.0008
_MAX_ZERO_MINUTES = 5
"""Only candles this short can be entirely quiet; longer all-quiet runs are too rare to matter."""


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


@attrs.frozen
class SimCandle:
    """One candle exactly as the simulated exchange sends it (decimal strings as on the wire).

    ``type`` is the REST spelling (``1mon``, ``1y``) or ``3d`` for the WebSocket-only interval."""

    symbol: str
    type: str
    start_ms: int
    end_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    amount: str


@attrs.frozen
class SymbolProfile:
    """How one symbol trades: price level and precision, liquidity, how often minutes are quiet."""

    base_price: float
    price_dp: int
    volume_dp: int
    volume_per_minute: float
    quiet_probability: float = 0.003
    spread: float = 0.0006

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.quiet_probability <= 0.9:
            raise ValueError("quiet_probability must be within [0, 0.9]")


class CandleUnits(NamedTuple):
    """A candle in integer units: prices in 10**-price_dp, volume in 10**-volume_dp, amount in
    10**-amount_dp. Keeps provisional states and formatting exact (no float reaches the wire); a
    plain tuple because the REST path builds a thousand of them per page."""

    start_ms: int
    end_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    amount: int
    price_dp: int
    volume_dp: int
    amount_dp: int

    @property
    def is_zero(self) -> bool:
        """No trade at all: the exchange pushes nothing for it until the final push."""
        return self.volume == 0

    def provisional(self, at_ms: int) -> CandleUnits:
        """The candle as it stood at market time ``at_ms``: deterministic, monotone, and equal to
        the final candle at ``end_ms`` (close moves from open towards close, the high and low only
        widen, volume and amount only grow)."""
        den = self.end_ms - self.start_ms
        num = min(max(at_ms - self.start_ms, 0), den)
        o, c = self.open, self.close
        close = o + (c - o) * num // den
        return self._replace(
            close=close,
            high=max(o, close) + (self.high - max(o, c)) * num // den,
            low=min(o, close) - (min(o, c) - self.low) * num // den,
            volume=self.volume * num // den,
            amount=self.amount * num // den,
        )

    def strings(self) -> tuple[str, str, str, str, str, str]:
        """``(open, high, low, close, volume, amount)`` exactly as sent on the wire."""
        pdp = self.price_dp
        return (
            fmt_decimal(self.open, pdp),
            fmt_decimal(self.high, pdp),
            fmt_decimal(self.low, pdp),
            fmt_decimal(self.close, pdp),
            fmt_decimal(self.volume, self.volume_dp),
            fmt_decimal(self.amount, self.amount_dp),
        )

    def to_candle(self, symbol: str, type: str) -> SimCandle:
        return SimCandle(symbol, type, self.start_ms, self.end_ms, *self.strings())


_POW10 = [10**i for i in range(40)]


def fmt_decimal(units: int, dp: int) -> str:
    """``units * 10**-dp`` (``units >= 0``) as WOO X writes it: no exponent, trailing zeros
    dropped ("108995.4", "0")."""
    if dp == 0:
        return str(units)
    whole, frac = divmod(units, _POW10[dp])
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(dp, '0').rstrip('0')}"


def seeded_key(seed: int, symbol: str, label: str) -> int:
    digest = hashlib.blake2b(f"{seed}|{symbol}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: int) -> int:
    """splitmix64 finaliser: a full-avalanche 64-bit hash, cheap enough to call per candle."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _hash(key: int, i: int) -> int:
    return _mix((key + i * _GAMMA) & _M64)


class _Batch:
    """Memo for one request: neighbouring candles share minutes and noise lattice points."""

    __slots__ = ("lattice", "minute", "price", "raw")

    def __init__(self) -> None:
        self.minute: dict[int, int] = {}
        self.lattice: list[dict[int, tuple[float, float]]] = [{} for _ in _OCTAVES]
        self.raw: dict[int, int] = {}
        self.price: dict[int, int] = {}


class CandleModel:
    """Deterministic candles of one symbol, for every interval, from ``(seed, symbol)`` alone."""

    def __init__(self, symbol: str, seed: int, profile: SymbolProfile) -> None:
        self.symbol = symbol
        self.profile = profile
        self._log_base = math.log(profile.base_price)
        self._scale: int = _POW10[profile.price_dp]
        self._octaves = [
            (period, 1.0 / period, amplitude, seeded_key(seed, symbol, f"octave{i}"))
            for i, (period, amplitude) in enumerate(_OCTAVES)
        ]
        self._minute_key = seeded_key(seed, symbol, "minute")
        self._quiet_cut = int(profile.quiet_probability * 2**32)
        self._type_keys = {name: seeded_key(seed, symbol, f"type:{name}") for name in INTERVALS}

    def _minute_hash(self, m: int, memo: _Batch) -> int:
        h = memo.minute.get(m)
        if h is None:
            h = memo.minute[m] = _mix((self._minute_key + m * _GAMMA) & _M64)
        return h

    def _raw_price(self, m: int, memo: _Batch) -> int:
        """The price the noise octaves give minute ``m`` (before quiet minutes are applied)."""
        price = memo.raw.get(m)
        if price is not None:
            return price
        log_price = self._log_base
        for (period, inverse, amplitude, key), lattice in zip(
            self._octaves, memo.lattice, strict=True
        ):
            cell, offset = divmod(m, period)
            segment = lattice.get(cell)
            if segment is None:
                v0 = _hash(key, cell) / 2**63 - 1.0
                v1 = _hash(key, cell + 1) / 2**63 - 1.0
                segment = lattice[cell] = (amplitude * v0, amplitude * (v1 - v0))
            f = offset * inverse
            log_price += segment[0] + segment[1] * f * f * (3.0 - 2.0 * f)
        jitter = (self._minute_hash(m, memo) & 0xFFFFFFFF) / 2**32 - 0.5
        price = max(1, round(math.exp(log_price + _JITTER * 2 * jitter) * self._scale))
        memo.raw[m] = price
        return price

    def price_at_minute(self, m: int, memo: _Batch | None = None) -> int:
        """Last traded price (in ticks) at the start of minute ``m``: quiet minutes carry the
        previous price forward, which is what makes zero-volume candles flat."""
        memo = memo or _Batch()
        price = memo.price.get(m)
        if price is None:
            cut, j = self._quiet_cut, m
            while (self._minute_hash(j - 1, memo) >> 32) < cut:
                j -= 1
            price = memo.price[m] = self._raw_price(j, memo)
        return price

    def units(self, iv: Interval, index: int, memo: _Batch | None = None) -> CandleUnits:
        memo = memo or _Batch()
        first, end = iv.minutes(index)
        return self._units(iv.name, index, first, end, memo)

    def units_range(self, iv: Interval, lo: int, hi: int) -> list[CandleUnits]:
        """Candles with indices ``lo..hi`` inclusive, ascending, sharing one memo."""
        memo = _Batch()
        out = []
        name, units = iv.name, self._units
        end = iv.start_of(lo) // MINUTE_MS
        for index in range(lo, hi + 1):
            first, end = end, iv.start_of(index + 1) // MINUTE_MS
            out.append(units(name, index, first, end, memo))
        return out

    def _all_quiet(self, first: int, end: int, memo: _Batch) -> bool:
        cut = self._quiet_cut
        return all((self._minute_hash(m, memo) >> 32) < cut for m in range(first, end))

    def _units(self, name: str, index: int, first: int, end: int, memo: _Batch) -> CandleUnits:
        p = self.profile
        o = self.price_at_minute(first, memo)
        c = self.price_at_minute(end, memo)
        n = end - first
        start_ms, end_ms = first * MINUTE_MS, end * MINUTE_MS
        if n <= _MAX_ZERO_MINUTES and o == c and self._all_quiet(first, end, memo):
            return CandleUnits(start_ms, end_ms, o, o, o, o, 0, 0, p.price_dp, p.volume_dp, 0)
        h = _mix((self._type_keys[name] + index * _GAMMA) & _M64)
        h2 = _mix(h)
        spread = min(0.25, p.spread * math.sqrt(n))
        top, bottom = (o, c) if o > c else (c, o)
        high = top + int(top * spread * (h & 0xFFFFFFFF) / 2**32)
        low = max(1, bottom - int(bottom * spread * (h >> 32) / 2**32))
        size = 0.4 + 1.2 * (h2 & 0xFFFFFFFF) / 2**32
        volume = max(1, int(p.volume_per_minute * n * size * _POW10[p.volume_dp]))
        vwap = low * 100 + (high - low) * 100 * (h2 >> 32) // 2**32  # price_dp + 2 decimals
        amount, amount_dp = volume * vwap, p.volume_dp + p.price_dp + 2
        if amount_dp > 8:
            q = _POW10[amount_dp - 8]
            amount, amount_dp = (amount + q // 2) // q, 8
        return CandleUnits(
            start_ms, end_ms, o, high, low, c, volume, amount, p.price_dp, p.volume_dp, amount_dp
        )
