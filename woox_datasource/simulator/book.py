"""A seeded order book per symbol whose state at any millisecond is a pure function of the time.

Levels sit on a grid of ``step`` ticks; level ``j`` is the price ``j * step``. The book is centred
on the symbol's price path (re-read on a grid of ``grid_ms``): bids at distances ``d >= gap``
below the centre, asks at ``d >= gap`` above it, up to ``extent`` levels per side. A level's size is
the sum of seeded *components*, each an order that is redrawn once per slot of its own, at a
seeded instant:

* ``deep``: every level of the plain (non-RPI) book, some of them empty at any time;
* ``inner``: the four levels nearest the touch, redrawn often;
* ``beat``: the best level of each side, redrawn at every grid instant (so even an idle book
  changes at least once per ``grid_ms``, and its best bid and ask always exist);
* ``rpi``: Retail Price Improvement orders within ``rpi_reach`` levels of the centre, inside the
  plain book's spread: only the RPI book (plain book plus these) holds them.

A component redraws each of its levels once per slot of ``modulus * every_ms``; within the slot
the levels take turns in a seeded order, one every ``every_ms``. So the changes in any time range
are listed in O(changes) (which level changes at a given instant is an inverse permutation), and
the size of any level at any time is O(1): the book needs no replay from an origin, and a
snapshot of last hour costs what a snapshot of now costs.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import attrs

from .hashing import GAMMA, M64, mix, mix_at, seeded_key, unit
from .market import CandleModel
from .minutes import MINUTE_MS
from .units import POW10

BID, ASK = 0, 1
INNER_LEVELS = 4
_SMALL_MODULUS = 16


@attrs.frozen
class BookParams:
    """How one symbol's book is laid out and how busy it is."""

    step: int
    """Ticks between neighbouring levels."""
    extent: int
    """Levels per side of the plain book (counted from the centre)."""
    gap: int
    """Distance of the plain book's best levels from the centre (its spread is ``2 * gap``)."""
    rpi_reach: int
    """RPI orders sit at distances ``1 .. rpi_reach``."""
    grid_ms: int
    """The centre moves and the best levels are redrawn on this grid."""
    deep_every_ms: int
    inner_every_ms: int
    rpi_every_ms: int
    size: int
    """A typical level size, in volume units."""


def params_for(model: CandleModel, seed: int) -> BookParams:
    """A book whose busyness follows the symbol's trading activity: BTC's moves every second and
    holds 800 levels a side; a quiet alt's holds a few dozen and may not change for a minute."""
    p = model.profile
    busy = p.trades_per_minute
    h = seeded_key(seed, model.symbol, "book")
    step = max(1, round(p.base_price * POW10[p.price_dp] * 1e-4))
    extent = min(800, 30 + 12 * busy)
    gap = 1 + h % 3
    deep_slot_ms = 60_000 * (1 + 60 // busy)
    return BookParams(
        step=step,
        extent=extent,
        gap=gap,
        rpi_reach=gap + 2,
        grid_ms=1_000 * (1 + 120 // busy),
        deep_every_ms=max(1, deep_slot_ms // _pow2_above(2 * extent + 1)),
        inner_every_ms=max(20, 20_000 // busy),
        rpi_every_ms=max(20, 15_000 // busy),
        size=max(1, round(p.volume_per_minute * POW10[p.volume_dp] / 10)),
    )


def _pow2_above(n: int) -> int:
    return 1 << math.ceil(math.log2(n))


class Component(NamedTuple):
    key: int
    modulus: int
    every_ms: int
    empty_one_in: int
    """A redraw leaves the level empty one time in this many (0: never)."""
    scale: float

    @property
    def slot_ms(self) -> int:
        return self.modulus * self.every_ms


class BookModel:
    """One symbol's book as a function of time (see the module docstring)."""

    def __init__(self, model: CandleModel, seed: int, params: BookParams | None = None) -> None:
        self.model = model
        self.symbol = model.symbol
        self.params = params or params_for(model, seed)
        prm = self.params
        key = seeded_key(seed, model.symbol, "levels")
        self.deep = Component(mix_at(key, 1), _pow2_above(2 * prm.extent + 1),
                              prm.deep_every_ms, 4, 1.0)  # fmt: skip
        self.inner = Component(mix_at(key, 2), _SMALL_MODULUS, prm.inner_every_ms, 0, 0.6)
        self.rpi = Component(mix_at(key, 3), _SMALL_MODULUS, prm.rpi_every_ms, 3, 0.3)
        self._beat_key = mix_at(key, 4)
        grid = self.params.grid_ms
        phase = 1 + mix_at(key, 6) % (grid - 1)
        self.phase = phase + 1 if phase % 50 == 0 else phase
        """Grid instants are ``k * grid_ms + phase``: off the round times REST snapshots use."""
        self._perms: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._centre_at = (-(1 << 62), 0)
        """The last grid index asked for and its centre (the book's topics ask it together)."""

    # ---------------------------------------------------------------- components

    def _perm(self, comp: Component, k: int) -> tuple[int, int, int]:
        """``(a, a_inverse, b)`` of slot ``k``: level residue ``i`` changes at position
        ``(a * i + b) % modulus``."""
        got = self._perms.get((comp.key, k))
        if got is None:
            h = mix_at(comp.key, k)
            a = (h | 1) % comp.modulus
            got = (a, pow(a, -1, comp.modulus), (h >> 32) % comp.modulus)
            if len(self._perms) > 4096:
                self._perms.clear()
            self._perms[(comp.key, k)] = got
        return got

    def value(self, comp: Component, side: int, j: int, t: int) -> int:
        """Size of ``comp``'s order at level ``j`` on ``side`` at time ``t``."""
        slot = comp.slot_ms
        k = t // slot
        a, _, b = self._perm(comp, k)
        if t < k * slot + (a * (j % comp.modulus) + b) % comp.modulus * comp.every_ms:
            k -= 1
        return self._draw(comp, comp.key + side, j, k)

    def _draw(self, comp: Component, base: int, j: int, k: int) -> int:
        """The size ``comp`` drew for level ``j`` in slot ``k`` (``base``: its key and side)."""
        h = mix(mix_at(base, j) ^ (k * GAMMA & M64))
        if comp.empty_one_in and (h >> 48) % comp.empty_one_in == 0:
            return 0
        return max(1, round(self.params.size * comp.scale * (0.2 + 2.8 * unit(h))))

    def changed_residue(self, comp: Component, n: int) -> int:
        """The level residue that ``comp`` redraws at time ``n * every_ms``."""
        k, pos = divmod(n, comp.modulus)
        _, a_inv, b = self._perm(comp, k)
        return (pos - b) * a_inv % comp.modulus

    def grid_index(self, t: int) -> int:
        """Index of the last grid instant at or before ``t``."""
        return (t - self.phase) // self.params.grid_ms

    def grid_instants(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """``(instant, index)`` of the grid instants in ``(lo, hi]``."""
        grid, phase = self.params.grid_ms, self.phase
        return [(g * grid + phase, g) for g in range(self.grid_index(lo) + 1,
                                                      self.grid_index(hi) + 1)]  # fmt: skip

    def beat(self, side: int, t: int) -> int:
        """The best level's own order, redrawn at every grid instant, never equal twice running
        (the grid index's parity is part of its size)."""
        g = self.grid_index(t)
        return self.params.size * (1 + mix_at(self._beat_key + side, g) % 8) * 2 + (g & 1) + 1

    # ---------------------------------------------------------------- the book

    def centre(self, t: int) -> int:
        """The centre level at ``t``: the price path, interpolated within its minute, read at the
        last grid instant."""
        index = self.grid_index(t)
        if index == self._centre_at[0]:
            return self._centre_at[1]
        centre = self._centre(index)
        self._centre_at = (index, centre)
        return centre

    def _centre(self, index: int) -> int:
        g = index * self.params.grid_ms + self.phase
        m, within = divmod(g, MINUTE_MS)
        p0 = self.model.price_at_minute(m)
        p1 = self.model.price_at_minute(m + 1)
        price = p0 + (p1 - p0) * within // MINUTE_MS
        step = self.params.step
        return (price + step // 2) // step

    @property
    def near(self) -> int:
        """Distances up to which orders placed relative to the centre (inner, beat, RPI) sit."""
        prm = self.params
        return max(prm.gap + INNER_LEVELS - 1, prm.rpi_reach)

    def deep_at(self, side: int, d: int, centre: int, t: int) -> int:
        """The deep order at distance ``d`` (counted whatever the distance: a level inside the
        spread now is the best one after the centre moves)."""
        return self.value(self.deep, side, centre - d if side == BID else centre + d, t)

    def deep_row(self, side: int, centre: int, t: int, first: int = 1, last: int = 0) -> list[int]:
        """Deep orders at distances ``first .. last`` (default: the whole extent): ``value``
        unrolled, since a whole side shares one slot and its permutation."""
        last = last or self.params.extent
        comp = self.deep
        slot, modulus, every = comp.slot_ms, comp.modulus, comp.every_ms
        k = t // slot
        a, _, b = self._perm(comp, k)
        offset = t - k * slot
        base = comp.key + side
        sign = -1 if side == BID else 1
        draw = self._draw
        out = []
        for d in range(first, last + 1):
            j = centre + sign * d
            current = offset >= (a * (j % modulus) + b) % modulus * every
            out.append(draw(comp, base, j, k if current else k - 1))
        return out

    def size(self, deep: int, side: int, d: int, centre: int, t: int, rpi: bool) -> int:
        """The size at distance ``d``, given the deep order there: the deep order within the
        plain book's range, plus the orders placed relative to the centre."""
        prm = self.params
        size = deep if d >= prm.gap else 0
        if d > self.near:
            return size
        j = centre - d if side == BID else centre + d
        if prm.gap <= d < prm.gap + INNER_LEVELS:
            size += self.value(self.inner, side, j, t)
        if d == prm.gap:
            size += self.beat(side, t)
        if rpi and d <= prm.rpi_reach:
            size += self.value(self.rpi, side, j, t)
        return size

    def sizes(self, row: list[int], side: int, centre: int, t: int, rpi: bool) -> list[int]:
        """The whole ladder (sizes at distances ``1 .. extent``) from a row of deep orders."""
        gap = self.params.gap
        out = [0] * (gap - 1) + row[gap - 1 :]
        for d in range(1, self.near + 1):
            out[d - 1] = self.size(row[d - 1], side, d, centre, t, rpi)
        return out

    def ladder(self, side: int, t: int, rpi: bool, centre: int | None = None) -> list[int]:
        """Sizes at distances ``1 .. extent`` (index ``d - 1``), zeros included."""
        c = self.centre(t) if centre is None else centre
        return self.sizes(self.deep_row(side, c, t), side, c, t, rpi)

    def top(
        self, t: int, depth: int, rpi: bool
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ``depth`` non-empty levels per side at ``t``, best first, as
        ``(price in ticks, size in units)``."""
        c = self.centre(t)
        return (
            view(self.ladder(BID, t, rpi, c), c, BID, depth, self.params.step),
            view(self.ladder(ASK, t, rpi, c), c, ASK, depth, self.params.step),
        )


def view(ladder: list[int], centre: int, side: int, depth: int, step: int) -> list[tuple[int, int]]:
    """The first ``depth`` non-empty levels of a ladder, best first, with their prices."""
    found = itertools.islice(itertools.compress(range(len(ladder)), ladder), depth)
    if side == BID:
        return [((centre - 1 - i) * step, ladder[i]) for i in found]
    return [((centre + 1 + i) * step, ladder[i]) for i in found]
