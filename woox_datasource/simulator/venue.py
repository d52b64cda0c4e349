"""A symbol set the size of WOO X's: 313 instruments, to run the whole venue against the simulator.

The bases are the ones WOO X listed in 2026 (OBS-REST counted 223 ``PERP_*_USDT``, 88
``SPOT_*_USDT`` and 2 USDC spot instruments), including bases that start with a digit (``1INCH``,
``0G``, ``2Z``, ``1000PEPE``). Listing times are fixed instants drawn from the symbol's name, so
the set, its candles and its history ranges are the same on every run, whatever the clock says.
"""

from __future__ import annotations

from .market import seeded_key

_PERP = """
BTC ETH SOL XRP DOGE ADA AVAX LINK DOT TRX BCH LTC NEAR POL UNI ATOM ETC FIL APT ARB OP SUI SEI
TIA INJ WOO 1INCH 0G 2Z AAVE MKR SNX CRV LDO COMP YFI SUSHI BAL DYDX GMX PENDLE JUP JTO PYTH WIF
1000BONK 1000PEPE 1000SHIB 1000FLOKI WLD ORDI 1000SATS STX RUNE KAS TON NOT ENA ETHFI W ZRO ZK
IO BLAST STRK MANTA ALT DYM PIXEL PORTAL AEVO BOME MEW POPCAT BRETT 1000MOG NEIRO TURBO GOAT
PNUT ACT MOODENG CHILLGUY VIRTUAL AI16Z AIXBT FARTCOIN TRUMP MELANIA HYPE MOVE ME USUAL PENGU
VANA BIO S BERA IP KAITO LAYER RED SHELL TUT BROCCOLI MUBARAK PARTI NIL BABY KERNEL WCT INIT
SIGN HUMA SOPH RESOLV HOME SAHARA NEWT PUMP TREE CRO HBAR ICP VET ALGO XLM XTZ EOS THETA AXS
SAND MANA GALA APE CHZ ENJ FLOW EGLD KAVA ZIL ONE NEO QTUM IOTA IOTX ZEC DASH XMR KSM MINA ROSE
CELO ANKR BAT ZRX LRC IMX GRT FET RENDER AR TAO AKT ARKM CYBER ID EDU MAV PEOPLE MASK BLUR SSV
RPL FXS CVX LQTY JOE MAGIC HOOK HIGH GMT ACH C98 CELR SKL STORJ SXP KNC BAND API3 UMA TRB ILV
YGG ALICE GLMR ASTR METIS ZETA SAGA OM ONDO ENS JASMY LUNA CAKE TWT HOT RSR SUPER ACE XAI MEME
ORCA RAY DRIFT TNSR CLOUD ZEUS SCR GRASS EIGEN
"""
PERP_BASES: tuple[str, ...] = tuple(_PERP.split())
"""Bases of the 223 ``PERP_<BASE>_USDT`` instruments."""

_SPOT_USDT = """
BTC ETH WOO SOL XRP DOGE ADA AVAX LINK DOT TRX BCH LTC NEAR UNI ATOM ETC FIL APT ARB OP SUI SEI
TIA INJ 1INCH AAVE MKR SNX CRV LDO COMP YFI SUSHI DYDX PENDLE JUP PYTH WIF ORDI STX TON ENA
ETHFI ZRO ZK STRK WLD PEPE SHIB BONK FLOKI TRUMP HYPE VIRTUAL FET RENDER TAO ONDO ENS IMX GRT AR
HBAR ICP VET ALGO XLM XTZ EOS SAND MANA GALA APE CHZ AXS KAS BERA S PENGU MOVE USUAL NEIRO
POPCAT LUNA CRO QNT PAXG
"""
SPOT_USDT_BASES: tuple[str, ...] = tuple(_SPOT_USDT.split())
"""Bases of the 88 ``SPOT_<BASE>_USDT`` instruments."""

SPOT_USDC_BASES: tuple[str, ...] = ("BTC", "ETH")
"""Bases of the 2 ``SPOT_<BASE>_USDC`` instruments."""

ESTABLISHED = frozenset({"BTC", "ETH", "WOO", "SOL", "XRP", "DOGE", "LTC", "BCH", "LINK", "DOT"})
"""Bases listed from the start (2021-01-01), like the simulator's default symbols."""

FIRST_LISTING_MS = 1_609_459_200_000
"""2021-01-01T00:00:00Z."""
LAST_LISTING_MS = 1_748_736_000_000
"""2025-06-01T00:00:00Z: every venue symbol is listed before the tests' fixed clocks (July 2025)."""


def venue_symbols() -> dict[str, int]:
    """The 313 venue instruments -> listing time (ms), sorted by symbol.

    Established bases are listed on 2021-01-01; every other instrument at an hour drawn from its
    name between then and 2025-06-01 (independent of any seed, so a seed changes prices, not the
    listing)."""
    symbols = (
        [f"PERP_{b}_USDT" for b in PERP_BASES]
        + [f"SPOT_{b}_USDT" for b in SPOT_USDT_BASES]
        + [f"SPOT_{b}_USDC" for b in SPOT_USDC_BASES]
    )
    hours = (LAST_LISTING_MS - FIRST_LISTING_MS) // 3_600_000
    listed = {}
    for symbol in symbols:
        base = symbol.split("_")[1]
        if base in ESTABLISHED:
            listed[symbol] = FIRST_LISTING_MS
        else:
            listed[symbol] = FIRST_LISTING_MS + seeded_key(0, symbol, "listing") % hours * 3_600_000
    return dict(sorted(listed.items()))
