"""Deterministic candles: the ground truth the simulated exchange serves.

Prices follow one path per symbol, sampled on the minute grid, so every candle of every timeframe
opens where the previous one closed (and a 1h candle opens at the same price as its first 1m
candle). The path is a sum of seeded value-noise octaves (a year down to a quarter hour) plus a
per-minute jitter, each a pure function of the minute number, so any candle is computed in O(1)
without generating its neighbours: a page of 1000 candles from a year of 1m history costs a few ms.
The octaves belong to the underlying asset (``BTC`` for ``SPOT_BTC_USDT`` and ``PERP_BTC_USDT``,
``PEPE`` for ``PERP_1000PEPE_USDT``), the jitter to the symbol: a perpetual trades close to its
spot market and to the index, as on the real exchange.

A 1m candle is exactly the sum of its minute's trades (see ``minutes``); longer candles are drawn
on their own (open and close on the shared path, high, low and volume seeded per candle), since
summing a year of minutes per yearly candle would cost a year of minutes.

Some minutes are "quiet" (no trades). A 1m-5m candle made only of quiet minutes has zero volume
and ``open == high == low == close == previous close``, as on the real exchange.
"""

from __future__ import annotations

import math

from .clock import MarketClock
from .hashing import GAMMA, M64, mix, mix_at, seeded_key
from .intervals import INTERVALS, MINUTE_MS, Interval
from .minutes import MinutePlan, plan, quiet
from .units import POW10, CandleUnits, SimCandle, SymbolProfile, fmt_decimal

__all__ = [
    "CandleModel",
    "CandleUnits",
    "MarketClock",
    "SimCandle",
    "SymbolProfile",
    "fmt_decimal",
    "seeded_key",
]

_OCTAVES = ((525_600, 0.15), (86_400, 0.09), (4_320, 0.05), (240, 0.025), (15, 0.008))
"""(period in minutes, amplitude of log-price): keeps a symbol within about x0.72..x1.38 of its
base price, e.g. BTC between ~61k and ~117k."""
_JITTER = 0.0008
_RECENT_MINUTES = 16
_MAX_ZERO_MINUTES = 5
"""Only candles this short can be entirely quiet; longer all-quiet runs are too rare to matter."""


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
        self._scale: int = POW10[profile.price_dp]
        asset = underlying(symbol)[0]
        self._octaves = [
            (period, 1.0 / period, amplitude, seeded_key(seed, asset, f"octave{i}"))
            for i, (period, amplitude) in enumerate(_OCTAVES)
        ]
        self._minute_key = seeded_key(seed, symbol, "minute")
        self._quiet_cut = int(profile.quiet_probability * 2**32)
        self._type_keys = {name: seeded_key(seed, symbol, f"type:{name}") for name in INTERVALS}
        self._recent: dict[int, int] = {}
        self._minute_type_key = self._type_keys["1m"]
        self._spread_per_hash = profile.spread / 2**32
        units = profile.volume_per_minute * POW10[profile.volume_dp]
        self._volume_base = 0.4 * units
        self._volume_span = 1.2 * units / 2**32
        self._trades_per_minute = profile.trades_per_minute

    def _minute_hash(self, m: int, memo: _Batch) -> int:
        h = memo.minute.get(m)
        if h is None:
            h = memo.minute[m] = mix((self._minute_key + m * GAMMA) & M64)
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
                v0 = mix_at(key, cell) / 2**63 - 1.0
                v1 = mix_at(key, cell + 1) / 2**63 - 1.0
                segment = lattice[cell] = (amplitude * v0, amplitude * (v1 - v0))
            f = offset * inverse
            log_price += segment[0] + segment[1] * f * f * (3.0 - 2.0 * f)
        jitter = (self._minute_hash(m, memo) & 0xFFFFFFFF) / 2**32 - 0.5
        price = max(1, round(math.exp(log_price + _JITTER * 2 * jitter) * self._scale))
        memo.raw[m] = price
        return price

    def price_at_minute(self, m: int, memo: _Batch | None = None) -> int:
        """Last traded price (in ticks) at the start of minute ``m``: quiet minutes carry the
        previous price forward, which is what makes zero-volume candles flat. Without a memo,
        the last few minutes asked are remembered (live topics ask the same ones every
        second)."""
        if memo is None:
            price = self._recent.get(m)
            if price is None:
                price = self.price_at_minute(m, _Batch())
                if len(self._recent) >= _RECENT_MINUTES:
                    del self._recent[next(iter(self._recent))]
                self._recent[m] = price
            return price
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

    def minute_plan(self, m: int, memo: _Batch | None = None) -> MinutePlan:
        """The trades of minute ``m`` in closed form (its 1m candle is their sum)."""
        memo = memo or _Batch()
        o = self.price_at_minute(m, memo)
        if (self._minute_hash(m, memo) >> 32) < self._quiet_cut:
            return quiet(m, o)
        c = self.price_at_minute(m + 1, memo)
        h = mix((self._minute_type_key + m * GAMMA) & M64)
        h2 = mix(h)
        spread = self._spread_per_hash
        if o > c:
            high = o + int(o * spread * (h & 0xFFFFFFFF))
            low = c - int(c * spread * (h >> 32)) or 1
        else:
            high = c + int(c * spread * (h & 0xFFFFFFFF))
            low = o - int(o * spread * (h >> 32)) or 1
        volume = int(self._volume_base + self._volume_span * (h2 & 0xFFFFFFFF)) or 1
        return plan(m, o, c, high, low, volume, h2, self._trades_per_minute)

    def minute_plans(self, first: int, end: int) -> list[MinutePlan]:
        """The plans of minutes ``[first, end)``, sharing one memo (an hour costs about what
        a 1h page of 1m candles costs)."""
        memo = _Batch()
        return [self.minute_plan(m, memo) for m in range(first, end)]

    def _units(self, name: str, index: int, first: int, end: int, memo: _Batch) -> CandleUnits:
        p = self.profile
        if name == "1m":
            m = self.minute_plan(first, memo)
            return CandleUnits(first * MINUTE_MS, end * MINUTE_MS, m.open, m.high, m.low,
                               m.close, m.volume, m.amount, p.price_dp, p.volume_dp,
                               p.price_dp + p.volume_dp)  # fmt: skip
        o = self.price_at_minute(first, memo)
        c = self.price_at_minute(end, memo)
        n = end - first
        start_ms, end_ms = first * MINUTE_MS, end * MINUTE_MS
        if n <= _MAX_ZERO_MINUTES and o == c and self._all_quiet(first, end, memo):
            return CandleUnits(start_ms, end_ms, o, o, o, o, 0, 0, p.price_dp, p.volume_dp, 0)
        h = mix((self._type_keys[name] + index * GAMMA) & M64)
        h2 = mix(h)
        spread = min(0.25, p.spread * math.sqrt(n))
        top, bottom = (o, c) if o > c else (c, o)
        high = top + int(top * spread * (h & 0xFFFFFFFF) / 2**32)
        low = max(1, bottom - int(bottom * spread * (h >> 32) / 2**32))
        size = 0.4 + 1.2 * (h2 & 0xFFFFFFFF) / 2**32
        volume = max(1, int(p.volume_per_minute * n * size * POW10[p.volume_dp]))
        vwap = low * 100 + (high - low) * 100 * (h2 >> 32) // 2**32  # price_dp + 2 decimals
        amount, amount_dp = volume * vwap, p.volume_dp + p.price_dp + 2
        if amount_dp > 8:
            q = POW10[amount_dp - 8]
            amount, amount_dp = (amount + q // 2) // q, 8
        return CandleUnits(
            start_ms, end_ms, o, high, low, c, volume, amount, p.price_dp, p.volume_dp, amount_dp
        )


def underlying(symbol: str) -> tuple[str, int]:
    """The asset whose price a symbol follows, and how many of it one unit is: ``PERP_BTC_USDT``
    -> ``("BTC", 1)``, ``PERP_1000PEPE_USDT`` -> ``("PEPE", 1000)``."""
    base = symbol.split("_")[1]
    if base.startswith("1000") and len(base) > 4 and base[4].isalpha():
        return base[4:], 1000
    return base, 1
