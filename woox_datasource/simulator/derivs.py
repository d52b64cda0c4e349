"""Index and mark prices, funding and open interest: the perpetuals' state channels.

All are pure functions of the market time, so a push, a REST row and a truth query agree:

* the index of an asset (published under ``SPOT_<BASE>_USDT``) follows that spot market's price
  path, interpolated within the minute and recomputed every second;
* the mark price of ``PERP_<BASE>_USDT`` is its index times one plus a small basis (a few basis
  points), in the perpetual's tick;
* the estimated funding rate changes every minute (``estfundingrate`` pushes it every 60 s) and
  settles every 8 hours (00:00, 08:00, 16:00 UTC) at the last estimate before the settlement;
* open interest changes on some seconds (always on a whole minute) and is pushed on change, or
  every 10 s with the time of its last change.
"""

from __future__ import annotations

from typing import NamedTuple

from .hashing import mix_at, seeded_key
from .market import CandleModel
from .units import POW10, fmt_decimal

SECOND_MS = 1_000
MINUTE_MS = 60_000
FUNDING_HOURS = 8
FUNDING_MS = FUNDING_HOURS * 3_600_000
RATE_DP = 8
"""Funding rates are written with 8 decimals, as WOO X does (``"0.00004326"``)."""
_OI_FORCED_S = 10


def fmt_signed(units: int, dp: int) -> str:
    """Like ``fmt_decimal`` for a value that may be negative."""
    return "-" + fmt_decimal(-units, dp) if units < 0 else fmt_decimal(units, dp)


def _signed(h: int) -> float:
    """A hash as a float in ``[-1, 1)``."""
    return (h & 0xFFFFFFFF) / 2_147_483_648.0 - 1.0


class Funding(NamedTuple):
    """An estimate of the next settlement: rate (decimal string), next funding time, and the
    time the estimate was made (a whole minute)."""

    symbol: str
    rate: str
    next_funding_time: int
    time: int


class Settlement(NamedTuple):
    symbol: str
    rate: str
    time: int
    next_funding_time: int
    mark_price: str


class OpenInterest(NamedTuple):
    """Open interest (base asset, decimal string) and the time of its last change."""

    symbol: str
    open_interest: str
    time: int


class IndexModel:
    """The index of one asset, from the price path of its spot market (listed or not)."""

    def __init__(self, spot: CandleModel, seed: int) -> None:
        self.model = spot
        self.symbol = spot.symbol
        self._key = seeded_key(seed, spot.symbol, "index")

    def units(self, t: int) -> int:
        """The index at the second containing ``t``, in the spot market's ticks."""
        s = t // SECOND_MS
        m, within = divmod(s, 60)
        p0 = self.model.price_at_minute(m)
        p1 = self.model.price_at_minute(m + 1)
        return max(1, p0 + (p1 - p0) * within // 60 + mix_at(self._key, s) % 3 - 1)

    def price(self, t: int) -> str:
        return fmt_decimal(self.units(t), self.model.profile.price_dp)


class PerpModel:
    """Mark price, funding and open interest of one perpetual."""

    def __init__(self, perp: CandleModel, index: IndexModel, seed: int) -> None:
        self.model = perp
        self.index = index
        self.symbol = perp.symbol
        self._basis_key = seeded_key(seed, perp.symbol, "basis")
        self._rate_key = seeded_key(seed, perp.symbol, "funding")
        self._oi_key = seeded_key(seed, perp.symbol, "oi")
        self._oi_base = perp.profile.volume_per_minute * 600 * POW10[perp.profile.volume_dp]
        self._oi_change = 10 + seeded_key(seed, perp.symbol, "oi-rate") % 50
        """Percent of seconds on which open interest changes."""

    # ---------------------------------------------------------------- mark price

    def mark_units(self, t: int) -> int:
        """The mark price at the second containing ``t``, in the perpetual's ticks."""
        s = t // SECOND_MS
        index_dp = self.index.model.profile.price_dp
        perp_dp = self.model.profile.price_dp
        basis = (
            1.0
            + 0.0003 * _signed(mix_at(self._basis_key, s // 60))
            + 0.00002 * _signed(mix_at(self._basis_key, s))
        )
        value = self.index.units(t) * basis * 10.0 ** (perp_dp - index_dp)
        return max(1, round(value))

    def mark_price(self, t: int) -> str:
        return fmt_decimal(self.mark_units(t), self.model.profile.price_dp)

    # ---------------------------------------------------------------- funding

    def rate_units(self, minute: int) -> int:
        """The estimate made at the start of ``minute``, in units of 1e-8: a slow swing of up
        to 3 bp per 8 h plus a little noise."""
        cell, within = divmod(minute, 480)
        v0 = _signed(mix_at(self._rate_key, cell))
        v1 = _signed(mix_at(self._rate_key, cell + 1))
        f = within / 480
        slow = v0 + (v1 - v0) * f * f * (3 - 2 * f)
        return round(30_000 * slow + 1_000 * _signed(mix_at(self._rate_key ^ 1, minute)))

    def funding(self, t: int) -> Funding:
        """The estimate current at ``t`` (made at the last whole minute)."""
        made = t // MINUTE_MS * MINUTE_MS
        rate = fmt_signed(self.rate_units(made // MINUTE_MS), RATE_DP)
        return Funding(self.symbol, rate, next_funding_time(made), made)

    def settlement(self, at: int) -> Settlement:
        """The settlement at funding time ``at``: the last estimate before it."""
        rate = fmt_signed(self.rate_units(at // MINUTE_MS - 1), RATE_DP)
        return Settlement(self.symbol, rate, at, at + FUNDING_MS, self.mark_price(at))

    # ---------------------------------------------------------------- open interest

    def _changes(self, s: int) -> bool:
        return s % 60 == 0 or mix_at(self._oi_key, s) % 100 < self._oi_change

    def oi_changed_at(self, t: int) -> int:
        """The second (in ms) of the last change at or before ``t``."""
        s = t // SECOND_MS
        while not self._changes(s):
            s -= 1
        return s * SECOND_MS

    def open_interest(self, t: int) -> OpenInterest:
        changed = self.oi_changed_at(t)
        s = changed // SECOND_MS
        hour, within = divmod(s, 3_600)
        v0 = _signed(mix_at(self._oi_key ^ 2, hour))
        v1 = _signed(mix_at(self._oi_key ^ 2, hour + 1))
        level = 1.0 + 0.2 * (v0 + (v1 - v0) * within / 3_600)
        jitter = 1.0 + 0.002 * _signed(mix_at(self._oi_key ^ 3, s))
        units = max(1, round(self._oi_base * level * jitter))
        return OpenInterest(self.symbol, fmt_decimal(units, self.model.profile.volume_dp), changed)

    def oi_push_due(self, s: int) -> bool:
        """Whether second ``s`` carries an ``openinterest`` push (a change, or the forced one)."""
        return self._changes(s) or s % _OI_FORCED_S == 0


def next_funding_time(t: int) -> int:
    """The first settlement strictly after ``t``."""
    return (t // FUNDING_MS + 1) * FUNDING_MS


def price_push(topic: str, symbol: str, price: str, made_ms: int, send_ms: int) -> str:
    """A ``markprice@`` or ``indexprice@`` push (woox-api-streams.md §1.8)."""
    return (
        f'{{"topic":"{topic}","ts":{send_ms},"data":{{"s":"{symbol}","px":"{price}",'
        f'"ts":{made_ms}}}}}'
    )


def funding_push(topic: str, f: Funding, send_ms: int) -> str:
    """An ``estfundingrate@`` push (§1.9)."""
    return (
        f'{{"topic":"{topic}","ts":{send_ms},"data":{{"s":"{f.symbol}","r":"{f.rate}",'
        f'"ft":{f.next_funding_time},"ts":{f.time}}}}}'
    )


def oi_push(topic: str, oi: OpenInterest, send_ms: int) -> str:
    """An ``openinterest@`` push (§1.10)."""
    return (
        f'{{"topic":"{topic}","ts":{send_ms},"data":{{"s":"{oi.symbol}",'
        f'"oi":"{oi.open_interest}","ts":{oi.time}}}}}'
    )
