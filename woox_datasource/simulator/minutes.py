"""One minute of trading: the trades behind a 1m candle, laid out so the candle stays O(1).

A minute's trades reproduce its 1m candle exactly: the first trade is at the open, the last at
the close, the high and the low are each hit by a trade, the sizes add up to the volume and
``price * size`` adds up to the quote volume to the last digit. Yet the candle is computed without
listing the trades, because they are built in two kinds:

* up to four *anchors*: the open, the high and the low (when the close and open do not already
  reach them) and the close, each with its own size;
* *pairs* around the centre of the range: two trades of one size at ``centre + d`` and
  ``centre - d``. A pair adds ``2 * size * centre`` to the amount whatever ``d`` is, so every pair
  together adds ``2 * W * centre``, with ``W`` the sum of the pair sizes.

The amount is then the anchors' sum plus ``2 * W * centre``: a handful of multiplications. Only a
client of the trades (the ``trade`` topic, ``marketTrades``) pays for the list.

Some minutes hold a *twin*: two identical trades in the same millisecond (same price, size, side,
source), which WOO X's id-less trades make legitimate and a de-duplicating client must keep.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from .hashing import mix, mix_at

MINUTE_MS = 60_000
BUY, SELL = True, False
_SLOTS = 1024
"""Sub-steps per trade when spreading a minute's trades over its 60,000 ms."""


class MinutePlan(NamedTuple):
    """A minute's trades in closed form. Prices are in ticks, sizes in volume units, ``amount``
    in units of ``10**-(price_dp + volume_dp)`` (exact)."""

    minute: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    amount: int
    n_trades: int
    anchors: tuple[tuple[int, int, bool], ...]
    """``(price, size, is_buy)`` in time order: open first, close last."""
    pairs: int
    centre: int
    key: int

    @property
    def start_ms(self) -> int:
        return self.minute * MINUTE_MS


class RawTrade(NamedTuple):
    """One trade: time (ms), price (ticks), size (units), taker side, source (1 = WOO X's own,
    0 = aggregated from elsewhere) and whether it matched a Retail Price Improvement order."""

    time: int
    price: int
    size: int
    is_buy: bool
    src: int
    rpi: bool


def quiet(minute: int, price: int) -> MinutePlan:
    """A minute without trades: flat at the last price, nothing traded."""
    return MinutePlan(minute, price, price, price, price, 0, 0, 0, (), 0, price, 0)


def plan(
    minute: int, o: int, c: int, high: int, low: int, volume: int, key: int, per_minute: int
) -> MinutePlan:
    """The minute's trades for a candle ``o``/``high``/``low``/``c`` with about ``volume`` units
    (raised to the trade count if it is smaller) and on average about ``per_minute`` trades.
    Written as plain arithmetic: a page of a thousand 1m candles calls it a thousand times."""
    r = mix(key)
    pairs = (r & 0xFFFF) * (per_minute or 1) >> 16
    top, bottom = (o, c) if o > c else (c, o)
    if high > top:
        if low < bottom:
            if (r >> 16) & 1:
                prices: tuple[tuple[int, bool], ...] = ((low, SELL), (high, BUY))
            else:
                prices = ((high, BUY), (low, SELL))
        else:
            prices = ((high, BUY),)
    elif low < bottom:
        prices = ((low, SELL),)
    else:
        prices = ()
    single = not prices and o == c and pairs == 0
    n = 1 if single else 2 + len(prices)
    if volume < n:
        volume = n
    if pairs > (volume - n) // 2:
        pairs = (volume - n) // 2
    cap = (volume - n - 2 * pairs) // (2 * n) or 1
    bits = r >> 20  # 44 more bits: 11 for each anchor's size
    first = 1 + (bits & 0x7FF) * cap // 0x800
    anchors = [(o, first, bool(r >> 17 & 1))]
    amount, used = o * first, first
    for i, (price, side) in enumerate(prices, 1):
        size = 1 + (bits >> (11 * i) & 0x7FF) * cap // 0x800
        anchors.append((price, size, side))
        amount += price * size
        used += size
    rest = volume - used
    if not single:
        size = 1 + (bits >> (11 * n - 11) & 0x7FF) * cap // 0x800
        anchors.append((c, size, bool(r >> 18 & 1)))
        amount += c * size
        rest -= size
    last_price, last_size, last_side = anchors[-1]
    extra = rest if pairs == 0 else rest % 2
    if extra:
        anchors[-1] = (last_price, last_size + extra, last_side)
        amount += last_price * extra
        rest -= extra
    centre = (high + low) // 2
    amount += centre * rest
    return MinutePlan(minute, o, high, low, c, volume, amount, n + 2 * pairs, tuple(anchors),
                      pairs, centre, r)  # fmt: skip


def _time_key(p: MinutePlan) -> int:
    return mix(p.key ^ 0x5DEECE66D)


def _time(start: int, key: int, i: int, n: int) -> int:
    """Time of the ``i``-th of ``n`` trades: strictly increasing sub-steps, floored to the ms."""
    return start + (i * _SLOTS + mix_at(key, i) % _SLOTS) * MINUTE_MS // (n * _SLOTS)


def edge_times(p: MinutePlan) -> tuple[int, int]:
    """Times of the minute's first and last trade, without listing the trades (a twin sits
    strictly between them, so it never moves either)."""
    key, n = _time_key(p), p.n_trades
    return _time(p.start_ms, key, 0, n), _time(p.start_ms, key, n - 1, n)


def _partition(total: int, parts: int, key: int) -> list[int]:
    """``parts`` sizes >= 1 adding up to ``total`` (>= ``parts``), uneven but seeded."""
    spare = total - parts
    cuts = [0] + [k * _SLOTS + mix_at(key, k) % _SLOTS for k in range(1, parts)] + [parts * _SLOTS]
    marks = [spare * g // (parts * _SLOTS) for g in cuts]
    return [1 + b - a for a, b in itertools.pairwise(marks)]


def trades(p: MinutePlan) -> list[RawTrade]:
    """Every trade of the minute, in time order (ties keep their order)."""
    n = p.n_trades
    if n == 0:
        return []
    key = _time_key(p)
    times = [_time(p.start_ms, key, i, n) for i in range(n)]
    slot: list[RawTrade | None] = [None] * n
    first_price, first_size, first_side = p.anchors[0]
    slot[0] = RawTrade(times[0], first_price, first_size, first_side, 1, False)
    if len(p.anchors) > 1:
        free = list(range(1, n - 1))
        for k, (price, size, side) in enumerate(p.anchors[1:-1]):
            at = free.pop(mix_at(key, n + k) % len(free))
            slot[at] = RawTrade(times[at], price, size, side, 1, False)
        price, size, side = p.anchors[-1]
        slot[n - 1] = RawTrade(times[n - 1], price, size, side, 1, False)
    free = [i for i in range(1, n - 1) if slot[i] is None]
    if p.pairs:
        _pairs(p, key, free, times, slot)
    return [t for t in slot if t is not None]


def _pairs(
    p: MinutePlan, key: int, free: list[int], times: list[int], slot: list[RawTrade | None]
) -> None:
    anchored = sum(s for _, s, _ in p.anchors)
    sizes = _partition((p.volume - anchored) // 2, p.pairs, key ^ 0xA5A5)
    reach = min(p.high - p.centre, p.centre - p.low)
    first = 0
    if (key >> 40) % 8 == 0:  # a twin, on two neighbouring free slots sharing one millisecond
        at = next((i for i in range(len(free) - 1) if free[i + 1] == free[i] + 1), None)
        if at is not None:
            a = free[at]
            h = mix_at(key, 7 * p.n_trades)
            src, rpi = _source(h)
            times[a + 1] = times[a]
            slot[a] = slot[a + 1] = RawTrade(times[a], p.centre, sizes[0], bool(h & 1), src, rpi)
            free, first = free[:at] + free[at + 2 :], 1
    others = p.pairs - first
    for j in range(others):
        k = first + j
        h = mix_at(key, 3 * p.n_trades + k)
        d = h % (reach + 1) if reach > 0 else 0
        up, down = p.centre + d, p.centre - d
        if h >> 63:
            up, down = down, up
        for at, price, bits in ((free[j], up, h >> 8), (free[others + j], down, h >> 24)):
            src, rpi = _source(bits)
            slot[at] = RawTrade(times[at], price, sizes[k], bool(bits & 1), src, rpi)


def _source(bits: int) -> tuple[int, bool]:
    """About one trade in ten comes from aggregated external venues (``src`` 0); about one of
    WOO X's own in twenty matched an RPI order."""
    src = 0 if (bits >> 1) % 10 == 0 else 1
    return src, src == 1 and (bits >> 5) % 20 == 0
