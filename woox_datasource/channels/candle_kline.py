"""One kline push as the candle channel holds it: its times read, its candle built on demand.

Finality and gap tracking need only a push's times (its candle's ``st``/``et`` and the push's
``ts``). Under load most provisional updates are superseded before any consumer takes them
(conflated per candle), so building their exact records (six ``Decimal``s, two frozen records,
every check) is wasted work: a :class:`Kline` keeps the undecoded payload and builds the candle
the first time somebody needs it: a closing push at once (a final is checked before anyone sees
it), a provisional one when a consumer takes it (or, rarely, when two states of one candle must
be compared). A provisional update whose values turn out malformed is dropped and counted then;
one superseded before anyone took it is never read.
"""

from __future__ import annotations

from typing import Final

from host_stub.spec import OHLCV, CandleEvent
from woox_datasource import wire


class Kline:
    """A kline push: ``open_time``/``close_time`` of its candle, ``ts`` when it was sent, and the
    candle (:attr:`candle`, decoded on first use; raises :class:`wire.MalformedFrame`)."""

    __slots__ = ("_event", "_push", "close_time", "decoded", "open_time", "ts")

    def __init__(
        self, push: wire.Push, open_time: int, close_time: int, candle: OHLCV | None = None
    ) -> None:
        self._push = push
        self.ts = push.ts
        self.open_time = open_time
        self.close_time = close_time
        self.decoded = candle
        """The candle if it was built already (reading this decodes nothing)."""
        self._event: CandleEvent | None = None

    @classmethod
    def whole(cls, push: wire.KlinePush, raw: wire.Push) -> Kline:
        """A push decoded whole already (the careful way)."""
        candle = push.candle
        return cls(raw, candle.open_time, candle.close_time, candle)

    @property
    def candle(self) -> OHLCV:
        candle = self.decoded
        if candle is None:
            candle = self.decoded = wire.decode_kline(self._push).candle
        return candle

    def provisional(self) -> CandleEvent:
        """``CandleEvent(candle, final=False)``, built once for every stream that takes it."""
        event = self._event
        if event is None:
            event = self._event = CandleEvent(self.candle, False)
        return event

    def __eq__(self, other: object) -> bool:
        """The same candle state: two pushes are when their payloads are identical (a repeat;
        the exchange spells one state one way, and comparing bytes decodes nothing), a push and
        an :class:`OHLCV` when the push's candle is that one."""
        if isinstance(other, Kline):
            return self._push.data == other._push.data
        if not isinstance(other, OHLCV):
            return False
        try:
            return self.candle == other
        except wire.MalformedFrame:
            return False

    __hash__ = None  # type: ignore[assignment]
    """(A state, compared by value; never a key.)"""

    def __repr__(self) -> str:
        return f"<Kline {self._push.topic} st={self.open_time} ts={self.ts}>"


_decode_head: Final = wire.decode_kline_head
_decode_kline: Final = wire.decode_kline


def read_kline(push: wire.Push, symbol: str, ws_type: str) -> Kline:
    """The kline push ``push`` carries, for the topic of ``symbol`` at ``ws_type``: its head
    read, a closing push decoded and checked whole (it will be final), anything the head does
    not vouch for decoded the careful way (which names what is wrong: MalformedFrame)."""
    head = _decode_head(push)
    if (
        head is None or head.symbol != symbol or head.type != ws_type
        or head.open_time >= head.close_time
    ):  # fmt: skip
        return Kline.whole(_decode_kline(push), push)
    if push.ts >= head.close_time:
        return Kline(push, head.open_time, head.close_time, _decode_kline(push).candle)
    return Kline(push, head.open_time, head.close_time)
