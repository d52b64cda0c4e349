"""Candles to Arrow and back, exactly: prices and volumes as ``decimal128(38, scale)``.

A float column would lose the digits the contract promises (a yearly quote volume carries ~19
significant digits), so every price and volume is a ``decimal128`` of precision 38, the widest
Arrow's 128-bit decimal holds, with per-column ``scale`` taken from the data: the most decimal
places any value of that column has. A value that would need more than 38 digits at that scale is
refused with an error naming it, never rounded. All files of one partition must share the scales
(a dataset reader takes the first file's schema and refuses to narrow another's), so a batch may
be widened to the partition's scales; never narrowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from host_stub.spec import OHLCV
from host_stub.store.errors import ValueTooWide

PRECISION = 38
TIME = pa.timestamp("ms", tz="UTC")
DECIMAL_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume")
TIME_COLUMNS = ("open_time", "close_time")
COLUMNS = (*TIME_COLUMNS, *DECIMAL_COLUMNS)

Scales = dict[str, int]


def schema(scales: Mapping[str, int]) -> pa.Schema:
    return pa.schema(
        [pa.field(c, TIME, nullable=False) for c in TIME_COLUMNS]
        + [
            pa.field(c, pa.decimal128(PRECISION, scales[c]), nullable=False)
            for c in DECIMAL_COLUMNS
        ]
    )


def scales_of(table_schema: pa.Schema) -> Scales:
    """The decimal scales of a stored table's schema."""
    return {c: table_schema.field(c).type.scale for c in DECIMAL_COLUMNS}


def widest(*all_scales: Mapping[str, int]) -> Scales:
    return {c: max(s[c] for s in all_scales) for c in DECIMAL_COLUMNS}


def _needs(values: Sequence[Decimal]) -> tuple[int, int]:
    """(decimal places, integer digits) the widest values need."""
    places = digits = 0
    for value in values:
        _, numerals, exponent = value.as_tuple()
        assert isinstance(exponent, int), f"not a finite decimal: {value!r}"
        places = max(places, -exponent)
        digits = max(digits, len(numerals) + exponent)
    return places, digits


def to_table(candles: Sequence[OHLCV], at_least: Mapping[str, int] | None = None) -> pa.Table:
    """An Arrow table of ``candles`` with the smallest exact scales (or ``at_least`` wider).

    Raises :class:`ValueTooWide` naming the candle and column of a value that does not fit."""
    columns: dict[str, pa.Array[Any]] = {
        "open_time": pa.array([c.open_time for c in candles], TIME),
        "close_time": pa.array([c.close_time for c in candles], TIME),
    }
    scales: Scales = {}
    for name in DECIMAL_COLUMNS:
        values = [getattr(c, name) for c in candles]
        places, digits = _needs(values)
        scale = max(places, at_least[name] if at_least else 0)
        if digits + scale > PRECISION:
            for candle, value in zip(candles, values, strict=True):
                _, numerals, exponent = value.as_tuple()
                assert isinstance(exponent, int)
                if len(numerals) + exponent + scale > PRECISION:
                    raise ValueTooWide(
                        f"{name} {value} of {candle.symbol} at {candle.open_time} needs "
                        f"{len(numerals) + exponent} integer digits and {scale} decimal places "
                        f"(the column's scale): more than the {PRECISION} digits a decimal128 "
                        "holds, so it cannot be stored exactly"
                    )
        columns[name] = pa.array(values, pa.decimal128(PRECISION, scale))
        scales[name] = scale
    return pa.table(columns, schema=schema(scales))


def widen(table: pa.Table, scales: Mapping[str, int]) -> pa.Table:
    """``table`` with its decimal columns cast to ``scales`` (each at least the table's own)."""
    target = schema(scales)
    if table.schema.equals(target):
        return table
    for name in DECIMAL_COLUMNS:
        have = table.schema.field(name).type.scale
        if have > scales[name]:
            raise ValueError(f"cannot narrow {name} from scale {have} to {scales[name]}")
    try:
        return table.cast(target)
    except pa.ArrowInvalid as exc:  # an integer part too wide for the larger scale
        raise ValueTooWide(
            f"widening the store's decimal scales to {dict(scales)} would not fit 38 digits: {exc}"
        ) from None


def to_candles(table: pa.Table, symbol: str, interval: int) -> list[OHLCV]:
    """Records back from a stored table, each value without the zeros its column's scale added
    (``1.50`` at scale 2 is ``1.5`` again, as an exchange writes it; ``100`` stays ``100``).

    The text is made by Arrow (cast, then the zeros cut by a regular expression) and each
    ``Decimal`` built from it: about three times faster than Arrow's own Decimal objects, which
    would then still need their zeros cut one by one. (Arrow writes tiny values in scientific
    notation, ``1.50E-7``; those few are trimmed as Decimals.)"""
    columns = [[_decimal(v) for v in _plain_text(table.column(c)) if v is not None]
               for c in DECIMAL_COLUMNS]  # fmt: skip
    opens, closes = times(table, "open_time"), times(table, "close_time")
    return [
        OHLCV(symbol, interval, o, c, *values)
        for o, c, *values in zip(opens, closes, *columns, strict=True)
    ]


def _plain_text(column: pa.ChunkedArray[Any]) -> list[str | None]:
    text = pc.cast(column, pa.string())
    text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")
    text = pc.replace_substring_regex(text, pattern=r"(\.[0-9]*[1-9])0+$", replacement=r"\1")
    return text.to_pylist()


def times(table: pa.Table, column: str) -> list[int]:
    """A time column as epoch milliseconds."""
    return [int(t) for t in table.column(column).cast(pa.int64()).to_pylist() if t is not None]


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if "E" not in text:
        return value
    short = value.normalize()
    exponent = short.as_tuple().exponent
    return short if isinstance(exponent, int) and exponent <= 0 else short.quantize(_ONE)


_ONE = Decimal(1)
