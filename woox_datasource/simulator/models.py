"""The per-symbol models beyond candles, built the first time something asks for them.

A venue lists 313 symbols; a test subscribes a handful. The tape, the 24 h statistics, the book
and the perpetual's state of a symbol exist only once a topic, a REST call or a truth query
needs them."""

from __future__ import annotations

from .book import BookModel
from .derivs import IndexModel, PerpModel
from .market import CandleModel
from .minutes import MINUTE_MS
from .rolling import DayStats
from .symbols import Listing, Market, profile_for
from .trades import Tape


class Models:
    """Lazily built models of every listed symbol (and the index of every listed asset)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._tapes: dict[str, Tape] = {}
        self._days: dict[str, DayStats] = {}
        self._books: dict[str, BookModel] = {}
        self._indexes: dict[str, IndexModel] = {}
        self._perps: dict[str, PerpModel] = {}

    def listing(self, symbol: str) -> Listing:
        """The listing, or ValueError naming the listed symbols."""
        return self.market.listing(symbol)

    def tape(self, symbol: str) -> Tape:
        tape = self._tapes.get(symbol)
        if tape is None:
            listing = self.listing(symbol)
            first = listing.listed_ms // MINUTE_MS
            tape = self._tapes[symbol] = Tape(listing.model, first)
        return tape

    def day(self, symbol: str) -> DayStats:
        day = self._days.get(symbol)
        if day is None:
            tape = self.tape(symbol)
            day = self._days[symbol] = DayStats(tape.model, tape)
        return day

    def book(self, symbol: str) -> BookModel:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = BookModel(self.listing(symbol).model, self.market.seed)
        return book

    def index(self, symbol: str) -> IndexModel | None:
        """The index published under ``symbol`` (``SPOT_<BASE>_<QUOTE>``): for every listed
        spot market, and for the spot form of every listed perpetual (listed or not). None for
        anything else, which the exchange refuses."""
        found = self._indexes.get(symbol)
        if found is not None:
            return found
        kind, _, rest = symbol.partition("_")
        listings = self.market.listings
        if kind != "SPOT" or (symbol not in listings and f"PERP_{rest}" not in listings):
            return None
        listing = listings.get(symbol)
        seed = self.market.seed
        model = listing.model if listing else CandleModel(symbol, seed, profile_for(symbol, seed))
        found = self._indexes[symbol] = IndexModel(model, seed)
        return found

    def perp(self, symbol: str) -> PerpModel | None:
        """The perpetual's mark, funding and open interest; None unless a listed ``PERP_``."""
        found = self._perps.get(symbol)
        if found is not None:
            return found
        listing = self.market.listings.get(symbol)
        if listing is None or not symbol.startswith("PERP_"):
            return None
        index = self.index("SPOT_" + symbol.removeprefix("PERP_"))
        assert index is not None  # the perpetual is listed, so its index exists
        found = self._perps[symbol] = PerpModel(listing.model, index, self.market.seed)
        return found
