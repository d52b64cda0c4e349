"""Candle rows and instrument rows: exact decimals, strict validation, a fast path.

Parsing is strict on purpose: a row that does not validate raises :class:`ExchangeError` naming
the row and the problem, because a silently wrong candle is worse than no candle. It is also on
the hot path (1000-row history pages), hence the split: msgspec decodes a whole page straight
into typed rows (numeric strings into ``Decimal``, in C), the page is checked column by column
with the loops in C, and any anomaly sends the page to a careful row-by-row path that either
accepts a row (ints as strings, JSON numbers) or explains the problem.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, itemgetter, le, lt
from types import MemberDescriptorType
from typing import Any, Final

import attrs
import msgspec

from host_stub.spec import OHLCV, ExchangeError, Market
from woox_datasource.timeframes import Timeframe
from woox_datasource.wire._http import excerpt, loads, market_parts, rows_of

_ZERO: Final = Decimal(0)
_INF: Final = Decimal("Infinity")
_new = object.__new__


def to_decimal(value: object) -> Decimal:
    """Exact decimal of a WOO X number: strings keep their digits, JSON floats go through their
    shortest repr (the digits that were on the wire), never through binary. Finite, >= 0."""
    if isinstance(value, str):
        number = Decimal(value)  # raises InvalidOperation (an ArithmeticError) on garbage
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        raise TypeError(f"expected a number or numeric string, got {value!r}")
    if not number.is_finite() or number < _ZERO:
        raise ValueError(f"expected a finite non-negative number, got {value!r}")
    return number


class DecimalCache(dict[object, Decimal]):
    """Per-page memo: prices repeat a lot (open = previous close, high = open, ...), and a dict
    hit is several times cheaper than parsing a Decimal. Decimal is immutable, so sharing is safe.
    Only strings are stored, so ``1.0`` and ``1`` can never alias each other's digits."""

    def __missing__(self, key: object) -> Decimal:
        value = to_decimal(key)
        if type(key) is str:
            self[key] = value
        return value


def _to_ms(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected integer milliseconds, got {value!r}")


_ROW_KEYS: Final = ("startTimestamp", "endTimestamp", "open", "high", "low", "close", "volume",
                    "amount", "symbol", "type")  # fmt: skip
_row_fields = itemgetter(*_ROW_KEYS)

# The fast paths pass OHLCV's fields positionally; fail at import if the contract reorders them.
_OHLCV_FIELDS: Final = ("symbol", "interval", "open_time", "close_time", "open", "high", "low",
                        "close", "volume", "quote_volume")  # fmt: skip
if tuple(a.name for a in attrs.fields(OHLCV)) != _OHLCV_FIELDS:  # pragma: no cover
    raise ImportError("host_stub.spec.OHLCV changed its fields or their order; update wire")


def _slot_setters() -> list[Callable[[OHLCV, Any], None]] | None:
    """The slot descriptors' setters, if filling slots directly is exactly what OHLCV's own
    ``__init__`` would do: no validator, converter, init hook or hidden slot (a cached hash) to
    skip. Otherwise None, and pages are built through the constructor (the contract stays in
    charge)."""
    plain = (
        not hasattr(OHLCV, "__attrs_post_init__")
        and not hasattr(OHLCV, "__attrs_pre_init__")
        and set(getattr(OHLCV, "__slots__", ())) - {"__weakref__"} == set(_OHLCV_FIELDS)
        and all(a.validator is None and a.converter is None for a in attrs.fields(OHLCV))
    )
    slots = [OHLCV.__dict__.get(name) for name in _OHLCV_FIELDS]
    if not plain or not all(isinstance(d, MemberDescriptorType) for d in slots):
        return None
    return [d.__set__ for d in slots]  # type: ignore[union-attr]


_SETTERS: Final = _slot_setters()


def build_candles(columns: Sequence[Iterable[Any]], n: int) -> list[OHLCV]:
    """``n`` OHLCV records from ten columns in field order, built column by column: half the
    cost of calling the attrs ``__init__`` per row (a page is 1000 records), same objects."""
    if _SETTERS is None:
        return list(map(OHLCV, *columns))
    candles = list(map(_new, repeat(OHLCV, n)))
    for set_slot, column in zip(_SETTERS, columns, strict=True):
        deque(map(set_slot, candles, column), 0)
    return candles


def checked_candle(
    symbol: str, interval: int, fields: Sequence[object], decimals: DecimalCache
) -> OHLCV:
    """Build one candle from (start, end, o, h, l, c, v, a), raising ValueError with the problem."""
    names = ("start", "end", "open", "high", "low", "close", "volume", "amount")
    values: list[Any] = []
    for name, raw in zip(names, fields, strict=True):
        try:
            values.append(_to_ms(raw) if name in ("start", "end") else decimals[raw])
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"bad {name}: {exc}") from None
    start, end, o, h, low, c, v, a = values
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    if not low <= h:
        raise ValueError(f"high {h} is below low {low}")
    for name, price in (("open", o), ("close", c)):
        if not low <= price <= h:
            raise ValueError(f"{name} {price} is outside [low {low}, high {h}]")
    return OHLCV(symbol, interval, start, end, o, h, low, c, v, a)


def _slow_row(index: int, row: object, symbol: str, tf: Timeframe, cache: DecimalCache) -> OHLCV:
    """One row, checked field by field: accepts what the column path refuses but is still
    right (JSON numbers, timestamps as digit strings), and names the problem otherwise."""

    def fail(problem: str) -> ExchangeError:
        return ExchangeError(f"klineHistory row {index} is invalid: {problem}: {str(row)[:200]}")

    if not isinstance(row, dict):
        raise fail("not an object")
    missing = [k for k in _ROW_KEYS if k not in row]
    if missing:
        raise fail(f"missing field(s) {', '.join(missing)}")
    if row["symbol"] != symbol:
        raise fail(f"symbol {row['symbol']!r} is not the requested {symbol!r}")
    if row["type"] != tf.rest_type:
        raise fail(f"type {row['type']!r} is not the requested {tf.rest_type!r}")
    try:
        return checked_candle(symbol, tf.interval, _row_fields(row)[:8], cache)
    except ValueError as exc:
        raise fail(str(exc)) from None


class _KlineRow(msgspec.Struct, gc=False):
    symbol: str
    type: str
    startTimestamp: int
    endTimestamp: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    amount: Decimal


class _KlinePage(msgspec.Struct, gc=False):
    rows: list[_KlineRow]


_KLINE_PAGE: Final = msgspec.json.Decoder(_KlinePage)
_typed_fields = attrgetter("symbol", "type", "startTimestamp", "endTimestamp", "open", "high",
                           "low", "close", "volume", "amount")  # fmt: skip


def _checked_page(rows: list[_KlineRow], symbol: str, tf: Timeframe) -> list[OHLCV] | None:
    """The typed page as candles, checked column by column with every loop in C; None as soon
    as anything is off (the careful path then names it)."""
    if not rows:
        return []
    sym, typ, st, et, o, h, low, c, v, a = zip(*map(_typed_fields, rows), strict=True)
    if set(sym) != {symbol} or set(typ) != {tf.rest_type} or not all(map(lt, st, et)):
        return None
    # Comparisons with a NaN raise (InvalidOperation), so these also prove every value is a
    # number; min >= 0 and max < Infinity bound each column, the rest orders each candle.
    if not (
        min(low) >= _ZERO and max(h) < _INF and all(map(le, low, o)) and all(map(le, o, h))
        and all(map(le, low, c)) and all(map(le, c, h))
        and min(v) >= _ZERO and max(v) < _INF and min(a) >= _ZERO and max(a) < _INF
    ):  # fmt: skip
        return None
    n = len(rows)
    return build_candles((repeat(symbol, n), repeat(tf.interval, n), st, et, o, h, low, c, v, a), n)


def parse_kline_rows(data: Any, symbol: str, tf: Timeframe) -> list[OHLCV]:
    """Candles of a klineHistory (or kline) ``data``, in the exchange's order.

    ``data`` is the reply's undecoded :class:`msgspec.Raw` (the fast path) or its plain JSON
    values. ``close_time`` is the row's ``endTimestamp`` (exclusive, = next open). Raises
    :class:`ExchangeError` naming the first row that fails validation."""
    candles: list[OHLCV] | None = None
    try:
        if isinstance(data, msgspec.Raw | bytes):
            page = _KLINE_PAGE.decode(data)
        else:
            page = msgspec.convert(data, _KlinePage)
        candles = _checked_page(page.rows, symbol, tf)
    except (msgspec.DecodeError, msgspec.ValidationError, ArithmeticError):
        pass
    if candles is None:  # the careful path: accept what is right after all, or name the problem
        if isinstance(data, msgspec.Raw | bytes):
            try:
                data = loads(data)
            except msgspec.DecodeError:
                raise ExchangeError(f"WOO X klineHistory data is not JSON: {excerpt(data)}"
                                    ) from None  # fmt: skip
        cache = DecimalCache()
        rows = rows_of(data, "klineHistory")
        candles = [_slow_row(i, row, symbol, tf, cache) for i, row in enumerate(rows)]
    return candles


# ---------------------------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------------------------


def _optional_decimal(row: dict[str, Any], key: str, index: int) -> Decimal | None:
    raw = row.get(key)
    if raw is None or raw == "":
        return None
    try:
        return to_decimal(raw)
    except (TypeError, ValueError, ArithmeticError):
        raise ExchangeError(f"instruments row {index} ({row.get('symbol')!r}): bad {key} "
                            f"{raw!r}") from None  # fmt: skip


def parse_instruments(data: Any) -> list[Market]:
    """Markets of an instruments ``data`` (undecoded :class:`msgspec.Raw` or plain JSON values);
    rows whose symbol is neither SPOT_ nor PERP_ are skipped (the contract knows only those
    kinds). Nulls become None; extra fields are ignored. Called once per listing, so the plain
    decode is fast enough."""
    if isinstance(data, msgspec.Raw | bytes):
        try:
            data = loads(data)
        except msgspec.DecodeError:
            raise ExchangeError(f"WOO X instruments data is not JSON: {excerpt(data)}"
                                ) from None  # fmt: skip
    markets: list[Market] = []
    for index, row in enumerate(rows_of(data, "instruments")):
        symbol = row.get("symbol") if isinstance(row, dict) else None
        if not isinstance(symbol, str):
            raise ExchangeError(f"instruments row {index} has no symbol: {str(row)[:200]}")
        parts = market_parts(symbol)
        if parts is None:
            continue
        kind, base, quote = parts
        status = row.get("status")
        status = status if isinstance(status, str) else ""
        markets.append(
            Market(
                symbol=symbol,
                base=row.get("baseAsset") or base,
                quote=row.get("quoteAsset") or quote,
                kind=kind,
                status=status,
                active=status == "TRADING",
                price_tick=_optional_decimal(row, "quoteTick", index),
                quantity_tick=_optional_decimal(row, "baseTick", index),
                min_quantity=_optional_decimal(row, "baseMin", index),
                max_quantity=_optional_decimal(row, "baseMax", index),
                min_notional=_optional_decimal(row, "minNotional", index),
            )
        )
    return markets
