"""Parse speed: wire's klineHistory page -> OHLCV records vs the obvious baseline.

The baseline is what a plain client writes: ``json.loads`` then one ``OHLCV(...)`` with
``Decimal`` fields per row, and no validation at all. wire does more (it validates every candle:
types, plain non-negative numbers, low <= open/close <= high, start < end, symbol and type) and
is still faster: orjson when installed (the optional ``fast`` extra), the page handled column by
column with every loop in C, each distinct price parsed once, and records filled slot by slot.

Where the time goes (CPU, 1000 rows, Python 3.11, this project's dev box): orjson 0.7 ms; Decimal
construction ~1.0 ms and record construction 0.6 ms, both irreducible in Python; transposing and
validating ~1.1 ms. The baseline spends ~1.9 ms in json.loads and ~2.9 ms building. So the gain
is bounded near 1.3-1.4x as long as every candle is validated; the row-at-a-time parser this
replaced was 1.07x.

Run: ``python -m benchmarks.bench_parse`` (prints the figures of one run).
"""

from __future__ import annotations

import json
import random
import sys
import time
import timeit
from collections.abc import Callable
from decimal import Decimal

from host_stub.spec import OHLCV
from woox_datasource import wire
from woox_datasource.timeframes import parse_interval
from woox_datasource.wire import _http

SYMBOL = "SPOT_BTC_USDT"
ROWS = 1000


def kline_page(rows: int = ROWS, seed: int = 7) -> bytes:
    """A realistic 1m BTC page, newest first: a random walk in cents, open = previous close,
    wicks of zero length about a third of the time, 6-dp volume and 8-dp quote amount."""
    rng = random.Random(seed)
    start = 1_751_619_600_000
    price = 10_875_444  # cents
    out = []
    for i in range(rows):
        o = price
        c = max(1, o + rng.randint(-2_000, 2_000))
        h = max(o, c) + (0 if rng.random() < 0.35 else rng.randint(0, 1_500))
        lo = min(o, c) - (0 if rng.random() < 0.35 else rng.randint(0, 1_500))
        vol = rng.randint(0, 50_000_000)  # 6 dp
        amount = vol * ((o + c) // 2)  # 8 dp (cents * micro-units)
        price = c
        t = start + i * 60_000
        out.append({
            "symbol": SYMBOL, "open": f"{o / 100:.2f}", "close": f"{c / 100:.2f}",
            "high": f"{h / 100:.2f}", "low": f"{lo / 100:.2f}", "volume": f"{vol / 1e6:.6f}",
            "amount": f"{amount // 10**8}.{amount % 10**8:08d}", "type": "1m",
            "startTimestamp": t, "endTimestamp": t + 60_000,
        })  # fmt: skip
    out.reverse()
    return json.dumps({"success": True, "data": {"rows": out}, "timestamp": start}).encode()


def baseline(body: bytes) -> list[OHLCV]:
    doc = json.loads(body)
    return [
        OHLCV(
            symbol=r["symbol"],
            interval=60,
            open_time=int(r["startTimestamp"]),
            close_time=int(r["endTimestamp"]),
            open=Decimal(r["open"]),
            high=Decimal(r["high"]),
            low=Decimal(r["low"]),
            close=Decimal(r["close"]),
            volume=Decimal(r["volume"]),
            quote_volume=Decimal(r["amount"]),
        )
        for r in doc["data"]["rows"]
    ]


MINUTE = parse_interval(60)


def ours(body: bytes) -> list[OHLCV]:
    return wire.parse_kline_rows(wire.parse_envelope(200, body), SYMBOL, MINUTE)


def best_ms(fns: dict[str, Callable[[], object]], rounds: int = 25, number: int = 10
            ) -> dict[str, float]:  # fmt: skip
    """CPU milliseconds per call (process time: waiting for a busy machine's cores is not
    parsing), the best of ``rounds``, contenders interleaved round by round so that load
    penalises them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            seconds = timeit.Timer(fn, timer=time.process_time).timeit(number)
            best[name] = min(best[name], seconds / number * 1000)
    return best


def ours_with_stdlib_json(body: bytes) -> list[OHLCV]:
    _http.loads = json.loads  # the same parser without the optional orjson
    try:
        return ours(body)
    finally:
        _http.loads = wire.loads


def main() -> None:
    body = kline_page()
    assert ours(body) == baseline(body) == ours_with_stdlib_json(body), "parsers disagree"
    ms = best_ms({
        "baseline": lambda: baseline(body),
        "wire": lambda: ours(body),
        "wire-stdlib": lambda: ours_with_stdlib_json(body),
    })  # fmt: skip
    base = ms["baseline"]
    print(f"python {sys.version.split()[0]}; page: {ROWS} rows, {len(body):,} bytes; "
          f"CPU time, best of 25 interleaved rounds")  # fmt: skip
    print(f"baseline json.loads + OHLCV(Decimal): {base:7.3f} ms/page")
    label = f"wire ({wire.JSON_BACKEND}, validated):"
    print(f"{label:37s} {ms['wire']:7.3f} ms/page   ratio {base / ms['wire']:.2f}x")
    label = "wire (stdlib json, validated):"
    print(f"{label:37s} {ms['wire-stdlib']:7.3f} ms/page   ratio {base / ms['wire-stdlib']:.2f}x")


if __name__ == "__main__":
    main()
