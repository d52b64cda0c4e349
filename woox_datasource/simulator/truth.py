"""Ground truth of every channel: what a correct client of the simulator delivers, as of a time.

Tests compare a client's output with these number by number. Each value is the one the simulator
pushed or would push (and served over REST) at that time: the same functions produce both.
Prices and sizes are decimal strings exactly as on the wire; ``at_ms`` defaults to the market
clock's now.
"""

from __future__ import annotations

import attrs

from .clock import MarketClock
from .derivs import Funding, OpenInterest, PerpModel, Settlement
from .models import Models
from .rolling import Ticker
from .trades import SimTrade
from .units import fmt_decimal

SECOND_MS = 1_000


@attrs.frozen
class SimBook:
    """The top ``depth`` levels per side of a book (plain, or RPI with ``rpi=True``) at ``time``,
    best first, as ``(price, size)`` decimal strings."""

    symbol: str
    depth: int
    rpi: bool
    time: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]


@attrs.frozen
class SimQuote:
    """The best bid and offer at ``time`` (``bbo``, or ``bborpi`` with ``rpi=True``)."""

    symbol: str
    time: int
    bid_price: str
    bid_size: str
    ask_price: str
    ask_size: str


class GroundTruth:
    """The truth accessors of :class:`~.server.WooXSimulator`."""

    models: Models
    clock: MarketClock

    def _at(self, at_ms: int | None) -> int:
        return self.clock.now_ms() if at_ms is None else at_ms

    def trades(self, symbol: str, start_ms: int, end_ms: int) -> list[SimTrade]:
        """Every trade with ``start_ms <= time < end_ms``, in exchange order (identical trades
        in one millisecond included, each once)."""
        tape = self.models.tape(symbol)
        return [tape.record(t) for t in tape.between(start_ms, end_ms)]

    def book(
        self, symbol: str, depth: int = 50, rpi: bool = False, at_ms: int | None = None
    ) -> SimBook:
        """The true top-``depth`` book at ``at_ms`` (after every change at or before it)."""
        at = self._at(at_ms)
        model = self.models.book(symbol)
        p = model.model.profile
        bids, asks = model.top(at, depth, rpi)

        def text(levels: list[tuple[int, int]]) -> tuple[tuple[str, str], ...]:
            return tuple(
                (fmt_decimal(px, p.price_dp), fmt_decimal(q, p.volume_dp)) for px, q in levels
            )

        return SimBook(symbol, depth, rpi, at, text(bids), text(asks))

    def bbo(self, symbol: str, rpi: bool = False, at_ms: int | None = None) -> SimQuote:
        """The touch at ``at_ms``: what the last ``bbo`` (``bborpi``) push up to then said."""
        at = self._at(at_ms)
        model = self.models.book(symbol)
        p = model.model.profile
        (bids, asks) = model.top(at, 1, rpi)
        (bp, bq), (ap, aq) = bids[0], asks[0]
        pdp, vdp = p.price_dp, p.volume_dp
        return SimQuote(symbol, at, fmt_decimal(bp, pdp), fmt_decimal(bq, vdp),
                        fmt_decimal(ap, pdp), fmt_decimal(aq, vdp))  # fmt: skip

    def ticker(self, symbol: str, at_ms: int | None = None) -> Ticker:
        """The 24 h ticker of the last whole second at or before ``at_ms`` (what ``ticker``
        pushed then and ``futures`` serves)."""
        second = self._at(at_ms) // SECOND_MS * SECOND_MS
        return self.models.day(symbol).ticker(second)

    def mark_price(self, symbol: str, at_ms: int | None = None) -> str:
        """The mark price of a perpetual for the second containing ``at_ms``."""
        return self._perp(symbol).mark_price(self._at(at_ms))

    def index_price(self, symbol: str, at_ms: int | None = None) -> str:
        """The index published under ``symbol`` (``SPOT_<BASE>_USDT``; a perpetual's symbol is
        mapped to it) for the second containing ``at_ms``."""
        spot = "SPOT_" + symbol.removeprefix("PERP_").removeprefix("SPOT_")
        index = self.models.index(spot)
        if index is None:
            raise ValueError(f"no index is published for {symbol!r}")
        return index.price(self._at(at_ms))

    def funding(self, symbol: str, at_ms: int | None = None) -> Funding:
        """The funding estimate current at ``at_ms`` (made at its last whole minute)."""
        return self._perp(symbol).funding(self._at(at_ms))

    def settlement(self, symbol: str, funding_time: int) -> Settlement:
        """The settled funding at ``funding_time`` (a multiple of 8 h)."""
        return self._perp(symbol).settlement(funding_time)

    def open_interest(self, symbol: str, at_ms: int | None = None) -> OpenInterest:
        """Open interest at ``at_ms`` and the time of its last change."""
        return self._perp(symbol).open_interest(self._at(at_ms))

    def _perp(self, symbol: str) -> PerpModel:
        perp = self.models.perp(symbol)
        if perp is None:
            self.models.listing(symbol)  # an unknown symbol: ValueError naming the listed ones
            raise ValueError(f"{symbol!r} is not a perpetual: it has no mark, funding or OI")
        return perp
