"""The simulator's records in integer units, and how WOO X writes a decimal.

Every price and size is an integer count of the symbol's smallest step (``10**-price_dp`` for
prices, ``10**-volume_dp`` for sizes) until the moment it is written on the wire, so nothing the
simulator serves goes through a float and every sum it promises (trades adding up to their candle)
is exact."""

from __future__ import annotations

from typing import NamedTuple

import attrs


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
    trades_per_minute: int = 20
    """About how many trades a minute with trading holds (its 1m candle is their sum)."""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.quiet_probability <= 0.9:
            raise ValueError("quiet_probability must be within [0, 0.9]")
        if self.trades_per_minute < 1:
            raise ValueError("trades_per_minute must be >= 1")


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


POW10 = [10**i for i in range(40)]


def fmt_decimal(units: int, dp: int) -> str:
    """``units * 10**-dp`` (``units >= 0``) as WOO X writes it: no exponent, trailing zeros
    dropped ("108995.4", "0")."""
    if dp == 0:
        return str(units)
    whole, frac = divmod(units, POW10[dp])
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(dp, '0').rstrip('0')}"
