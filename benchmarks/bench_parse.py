"""Parse speed of the wire: msgspec typed decoding vs the obvious baselines, per frame shape.

Baselines, each producing the same records: ``json.loads`` (stdlib) then the record built from
``Decimal(...)`` of each field, and the same with ``orjson.loads`` when orjson happens to be
installed (it was the optional ``fast`` extra before msgspec; not a dependency now). The wire
does more than the baselines (it validates every value: finite, not negative, low <= open/close
<= high, the symbol is the topic's...) and is measured through its public functions:

* a 1000-row klineHistory page -> OHLCV records (``parse_reply`` + ``parse_kline_rows``);
* one push per channel -> its record: routing step (``decode_frame``) + the channel's decoder;
  for the kline push also a single-pass decode of the whole frame into one Struct, the
  alternative to the two-step envelope + payload decode the connection layer relies on.

Run: ``python -m benchmarks.bench_parse`` (prints the figures of one run: CPU time, best of
interleaved rounds, so that load from other processes penalises every contender alike).
"""

from __future__ import annotations

import functools
import importlib
import json
import random
import sys
import time
import timeit
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from host_stub.spec import (
    OHLCV,
    Channel,
    FundingEvent,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    Side,
    TickerEvent,
    Trade,
)
from woox_datasource import wire
from woox_datasource.timeframes import parse_interval
from woox_datasource.wire import _ws

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


def baseline(body: bytes, loads: Callable[[bytes], Any] = json.loads) -> list[OHLCV]:
    doc = loads(body)
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
    return wire.parse_kline_rows(wire.parse_reply(200, body).data, SYMBOL, MINUTE)


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


# ---- pushes ---------------------------------------------------------------------------------

PUSHES: dict[str, dict[str, Any]] = {
    "kline": {"topic": "kline@SPOT_BTC_USDT@1m", "ts": 1618822432146,
              "data": {"s": "SPOT_BTC_USDT", "t": "1m", "o": "56948.97", "c": "56891.76",
                       "h": "56948.97", "l": "56889.06", "v": "44.00947568", "a": "2504584.9",
                       "st": 1618822380000, "et": 1618822440000, "ts": 1618822432140,
                       "tts": 1618822432100}},
    "trade": {"topic": "trade@SPOT_ADA_USDT", "ts": 1618820361552,
              "data": {"s": "SPOT_ADA_USDT", "px": "1.27988", "sx": "300", "sd": "BUY", "src": 0,
                       "rpi": False, "ts": 1618820361540}},
    "bbo": {"topic": "bbo@PERP_BTC_USDT", "ts": 1790137719048,
            "data": {"s": "PERP_BTC_USDT", "ap": "87243", "aq": "0.32790", "bp": "86821",
                     "bq": "0.35032", "ts": 1790137719048}},
    "ticker": {"topic": "ticker@SPOT_WOO_USDT", "ts": 1614152270000,
               "data": {"s": "SPOT_WOO_USDT", "o": "0.16112", "c": "0.32206", "h": "0.33000",
                        "l": "0.14251", "v": "89040821.98", "a": "22493062.21",
                        "q": "89040821.98", "u": "22493062.21", "cnt": 15442,
                        "ts": 1614152260000, "tts": 1614152250000}},
    "markprice": {"topic": "markprice@PERP_BTC_USDT", "ts": 1790137719016,
                  "data": {"s": "PERP_BTC_USDT", "px": "87081", "ts": 1790137719004}},
    "estfundingrate": {"topic": "estfundingrate@PERP_BTC_USDT", "ts": 1790137739007,
                       "data": {"s": "PERP_BTC_USDT", "r": "0.00004326", "ft": 1790150400000,
                                "ts": 1790137739001}},
    "openinterest": {"topic": "openinterest@PERP_BTC_USDT", "ts": 1618820361552,
                     "data": {"s": "PERP_BTC_USDT", "oi": "936.37", "ts": 1618820200000}},
    "orderbookupdate": {"topic": "orderbookupdate@PERP_BTC_USDT@50", "ts": 1790137719288,
                        "data": {"s": "PERP_BTC_USDT", "prevTs": 1790137719188,
                                 "ts": 1790137719288, "bids": [["87100", "1.2"], ["87090", "0"]],
                                 "asks": [["87243", "0.33231"], ["95000", "0"]]}},
}  # fmt: skip


def _levels(rows: list[list[str]]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(p), Decimal(q)) for p, q in rows)


def _plain(name: str, doc: dict[str, Any]) -> object:
    """What a plain client builds from the parsed dict: the record with Decimal fields, no
    checks (the book delta as the wire's BookUpdate, the only shape without a contract record)."""
    d = doc["data"]
    if name == "kline":
        o, h, low, c, v, a = (Decimal(d[k]) for k in "ohlcva")
        return OHLCV(d["s"], 60, d["st"], d["et"], o, h, low, c, v, a)
    if name == "trade":
        return Trade(d["s"], d["ts"], Decimal(d["px"]), Decimal(d["sx"]),
                     Side.BUY if d["sd"] == "BUY" else Side.SELL, d["src"] == 0)  # fmt: skip
    if name == "bbo":
        return QuoteEvent(d["s"], d["ts"], Decimal(d["bp"]), Decimal(d["bq"]), Decimal(d["ap"]),
                          Decimal(d["aq"]))  # fmt: skip
    if name == "ticker":
        o, h, low, c, v, a = (Decimal(d[k]) for k in "ohlcva")
        return TickerEvent(d["s"], d["ts"], o, h, low, c, v, a, d["cnt"])
    if name == "markprice":
        return PriceEvent(Channel.MARK_PRICE, d["s"], d["ts"], Decimal(d["px"]))
    if name == "estfundingrate":
        return FundingEvent(d["s"], d["ts"], Decimal(d["r"]), d["ft"])
    if name == "openinterest":
        return OpenInterestEvent(d["s"], d["ts"], Decimal(d["oi"]))
    return wire.BookUpdate(d["s"], 50, False, d["prevTs"], d["ts"], _levels(d["bids"]),
                           _levels(d["asks"]))  # fmt: skip


def _wire(frame: bytes) -> object:
    push = wire.decode_frame(frame)
    assert isinstance(push, wire.Push)
    return wire.DECODERS[push.topic.partition("@")[0]](push)


class _KlineFrame(msgspec.Struct, gc=False):
    topic: str
    ts: int
    data: _ws._KlineData


_SINGLE_PASS = msgspec.json.Decoder(_KlineFrame)


def _orjson_loads() -> Callable[[bytes], Any] | None:
    """orjson's decoder if it happens to be installed (not a dependency)."""
    try:
        return importlib.import_module("orjson").loads  # type: ignore[no-any-return]
    except ImportError:
        return None


def pushes() -> None:
    loaders: dict[str, Callable[[bytes], Any]] = {"json": json.loads}
    if (orjson_loads := _orjson_loads()) is not None:
        loaders["orjson"] = orjson_loads
    print("\none push -> its record, CPU us per push (ratio: the stdlib baseline's time / this)")
    print(f"{'push':16s} {'json+Decimal':>12s}" + "".join(f" {n + '+Decimal':>14s}" for n in
          loaders if n != "json") + f" {'wire':>14s} {'route only':>11s}")  # fmt: skip
    for name, doc in PUSHES.items():
        _bench_push(name, doc, loaders)


def _bench_push(name: str, doc: dict[str, Any], loaders: dict[str, Callable[[bytes], Any]]
                ) -> None:  # fmt: skip
    frame = json.dumps(doc).encode()
    ours_record = _wire(frame)
    record = ours_record.candle if isinstance(ours_record, wire.KlinePush) else ours_record
    fns: dict[str, Callable[[], object]] = {}
    for n, load in loaders.items():
        fns[n] = functools.partial(lambda load: _plain(name, load(frame)), load)
    assert all(fn() == record for fn in fns.values()), f"{name}: parsers disagree"
    fns["wire"] = lambda: _wire(frame)
    fns["route"] = lambda: wire.decode_frame(frame)
    if name == "kline":
        fns["single"] = lambda: _SINGLE_PASS.decode(frame)
        fns["two-step"] = lambda: _ws._KLINE_DATA.decode(_PUSH_DECODE(frame).data)
    us = {k: v * 1000 for k, v in best_ms(fns, rounds=15, number=2000).items()}
    base = us["json"]
    cells = "".join(f" {us[n]:6.2f} {base / us[n]:5.2f}x" for n in loaders if n != "json")
    print(f"{name:16s} {base:12.2f}{cells} {us['wire']:6.2f} {base / us['wire']:5.2f}x"
          f" {us['route']:11.2f}")  # fmt: skip
    if name == "kline":
        print(
            f"  kline payload only (no records, no checks): two-step envelope+payload "
            f"{us['two-step']:.2f} us, single pass {us['single']:.2f} us"
        )


def _push_decode(frame: bytes) -> wire.Push:
    push = wire.decode_frame(frame)
    assert isinstance(push, wire.Push)
    return push


_PUSH_DECODE = _push_decode


def main() -> None:
    body = kline_page()
    assert ours(body) == baseline(body), "parsers disagree"
    fns: dict[str, Callable[[], object]] = {
        "baseline": lambda: baseline(body), "wire": lambda: ours(body)}  # fmt: skip
    if (orjson_loads := _orjson_loads()) is not None:
        fns["orjson"] = lambda: baseline(body, orjson_loads)
    ms = best_ms(fns)
    base = ms["baseline"]
    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}; page: {ROWS} rows, "
          f"{len(body):,} bytes; CPU time, best of 25 interleaved rounds")  # fmt: skip
    print(f"baseline json.loads + OHLCV(Decimal):   {base:7.3f} ms/page")
    if "orjson" in ms:
        print(f"orjson.loads + OHLCV(Decimal):          {ms['orjson']:7.3f} ms/page   "
              f"ratio {base / ms['orjson']:.2f}x")  # fmt: skip
    print(f"wire (msgspec, every candle validated): {ms['wire']:7.3f} ms/page   "
          f"ratio {base / ms['wire']:.2f}x")  # fmt: skip
    pushes()


if __name__ == "__main__":
    main()
