"""Seeded, stateless hashing: every value the simulator invents is a pure function of a seed, a
name and an integer (a minute, a slot, a level), so any of it can be recomputed at any time
without generating its neighbours."""

from __future__ import annotations

import hashlib

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def seeded_key(seed: int, symbol: str, label: str) -> int:
    digest = hashlib.blake2b(f"{seed}|{symbol}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def mix(x: int) -> int:
    """splitmix64 finaliser: a full-avalanche 64-bit hash, cheap enough to call per candle."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def mix_at(key: int, i: int) -> int:
    return mix((key + i * GAMMA) & M64)


def unit(h: int) -> float:
    """The low 32 bits of ``h`` as a float in ``[0, 1)``."""
    return (h & 0xFFFFFFFF) / 4_294_967_296.0
