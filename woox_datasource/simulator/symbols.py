"""The symbols the simulated exchange lists: their trading profiles, listing times and status."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import attrs

from .intervals import Interval, interval
from .market import CandleModel, CandleUnits, SimCandle, SymbolProfile, seeded_key, underlying

KNOWN_PROFILES: Mapping[str, SymbolProfile] = {
    "SPOT_BTC_USDT": SymbolProfile(85_000, 2, 6, 2.0, trades_per_minute=60),
    "PERP_BTC_USDT": SymbolProfile(85_000, 1, 4, 9.0, 0.001, trades_per_minute=150),
    "SPOT_ETH_USDT": SymbolProfile(3_000, 2, 5, 30.0, trades_per_minute=40),
    "PERP_ETH_USDT": SymbolProfile(3_000, 2, 3, 150.0, 0.002, trades_per_minute=100),
    "PERP_SOL_USDT": SymbolProfile(150, 3, 2, 900.0, 0.01, trades_per_minute=60),
    "SPOT_WOO_USDT": SymbolProfile(0.1, 5, 1, 50_000.0, 0.05, 0.001, trades_per_minute=12),
    "SPOT_1INCH_USDT": SymbolProfile(0.35, 4, 2, 3_000.0, 0.2, 0.0012, trades_per_minute=6),
    "PERP_0G_USDT": SymbolProfile(1.5, 4, 0, 2_000.0, 0.1, 0.0015, trades_per_minute=8),
    "PERP_2Z_USDT": SymbolProfile(0.4, 5, 0, 8_000.0, 0.15, 0.002, trades_per_minute=6),
    "SPOT_LUNA_USDT": SymbolProfile(0.6, 4, 1, 500.0, 0.5, 0.002, trades_per_minute=3),
}
"""Hand-made profiles for the default symbols; other symbols get one derived from their name."""

KNOWN_PRICES: Mapping[str, float] = {
    "BTC": 85_000, "ETH": 3_000, "SOL": 150, "WOO": 0.1, "1INCH": 0.35, "0G": 1.5, "2Z": 0.4,
    "LUNA": 0.6,
}  # fmt: skip
"""Base prices of the assets with hand-made profiles, so that e.g. ``SPOT_SOL_USDT`` (derived)
trades at the level of ``PERP_SOL_USDT`` (hand-made)."""


def profile_for(symbol: str, seed: int = 0) -> SymbolProfile:
    """The known profile, or a plausible seeded one (price 0.01 .. 10000 per unit of the
    underlying, ~6 significant digits). The price level belongs to the underlying asset, so a
    spot market and its perpetual trade at the same price."""
    known = KNOWN_PROFILES.get(symbol)
    if known is not None:
        return known
    asset, units = underlying(symbol)
    h = seeded_key(seed, asset, "profile")
    price = KNOWN_PRICES.get(asset) or 10.0 ** (h % 7 - 2) * (1 + (h >> 8) % 900 / 100)
    price *= units
    magnitude = math.floor(math.log10(price))
    price_dp = max(0, 5 - magnitude)
    volume_dp = max(0, min(8 - price_dp, 2 + magnitude))
    busy = 2 + seeded_key(seed, symbol, "activity") % 39
    return SymbolProfile(
        price, price_dp, volume_dp, 20_000.0 / price, 0.02, 0.0008, trades_per_minute=busy
    )


@attrs.define
class Listing:
    """A symbol the exchange lists: its model, listing time and instrument status."""

    model: CandleModel
    listed_ms: int
    status: str = "TRADING"

    def first_index(self, iv: Interval) -> int:
        """The first candle is the one during which the symbol was listed (so a daily candle of
        a symbol listed at 08:00 opens at 00:00 that day, as on a real exchange)."""
        return iv.index_of(self.listed_ms)


class Market:
    """Every listed symbol and its candles: the ground truth REST and WebSocket both serve."""

    def __init__(self, listings: Mapping[str, int], seed: int, suspended: Iterable[str]) -> None:
        stopped = set(suspended)
        unknown = stopped - set(listings)
        if unknown:
            raise ValueError(f"suspended symbols are not listed: {sorted(unknown)}")
        self.seed = seed
        self.listings: dict[str, Listing] = {}
        for symbol, listed_ms in sorted(listings.items()):
            if not _SYMBOL.fullmatch(symbol):
                raise ValueError(
                    f"symbol {symbol!r} is not in WOO X form <SPOT|PERP>_<BASE>_<QUOTE>, "
                    "upper case, e.g. SPOT_BTC_USDT"
                )
            model = CandleModel(symbol, seed, profile_for(symbol, seed))
            status = "SUSPENDED" if symbol in stopped else "TRADING"
            self.listings[symbol] = Listing(model, int(listed_ms), status)

    def listing(self, symbol: str) -> Listing:
        try:
            return self.listings[symbol]
        except KeyError:
            raise ValueError(
                f"symbol {symbol!r} is not listed on this simulator; listed: "
                f"{', '.join(self.listings)}"
            ) from None

    def candles(self, symbol: str, type: str, start_ms: int, end_ms: int) -> list[SimCandle]:
        """Candles opening in ``[start_ms, end_ms)`` (closed or not), ascending, from listing on."""
        listing, iv = self.listing(symbol), interval(type)
        lo = max(iv.index_of(start_ms - 1) + 1, listing.first_index(iv))
        hi = iv.index_of(end_ms - 1)
        units = listing.model.units_range(iv, lo, hi) if lo <= hi else []
        return [u.to_candle(symbol, iv.name) for u in units]

    def candle_at(self, symbol: str, type: str, start_ms: int) -> SimCandle:
        return self._units_at(symbol, type, start_ms).to_candle(symbol, interval(type).name)

    def provisional(self, symbol: str, type: str, start_ms: int, at_ms: int) -> SimCandle:
        units = self._units_at(symbol, type, start_ms).provisional(at_ms)
        return units.to_candle(symbol, interval(type).name)

    def _units_at(self, symbol: str, type: str, start_ms: int) -> CandleUnits:
        listing, iv = self.listing(symbol), interval(type)
        index = iv.index_of(start_ms)
        if iv.start_of(index) != start_ms:
            raise ValueError(
                f"{start_ms} is not the opening time of a {iv.name} candle; "
                f"the candle containing it opens at {iv.start_of(index)}"
            )
        if index < listing.first_index(iv):
            raise ValueError(f"{symbol} was listed at {listing.listed_ms}, after {start_ms}")
        return listing.model.units(iv, index)


_SYMBOL = re.compile(r"(SPOT|PERP)_[A-Z0-9]+_[A-Z0-9]+")


YEARS_AGO_MS = 1_609_459_200_000
"""2021-01-01T00:00:00Z: listing time of the long-established default symbols."""

DEFAULT_SYMBOLS: Mapping[str, int] = {
    "SPOT_BTC_USDT": YEARS_AGO_MS,
    "SPOT_ETH_USDT": YEARS_AGO_MS,
    "PERP_BTC_USDT": YEARS_AGO_MS,
    "PERP_ETH_USDT": YEARS_AGO_MS,
    "SPOT_WOO_USDT": YEARS_AGO_MS,
    "PERP_SOL_USDT": 1_640_995_200_000,  # 2022-01-01
    "SPOT_1INCH_USDT": 1_654_041_600_000,  # 2022-06-01
    "PERP_0G_USDT": 1_672_531_200_000,  # 2023-01-01
    "SPOT_LUNA_USDT": YEARS_AGO_MS,
}
DEFAULT_SUSPENDED = frozenset({"SPOT_LUNA_USDT"})
RECENT_SYMBOL = "PERP_2Z_USDT"
RECENT_AGE_MS = 36 * 3_600_000


def default_symbols(now_ms: int) -> dict[str, int]:
    """The default listing: established symbols plus ``PERP_2Z_USDT``, listed 36 h before
    ``now_ms`` (rounded down to the hour), so history requests can run into a listing time."""
    recent = (now_ms - RECENT_AGE_MS) // 3_600_000 * 3_600_000
    return {**DEFAULT_SYMBOLS, RECENT_SYMBOL: recent}
