"""The latest-value channels: ``bbo``, ``ticker``, ``mark_price``, ``index_price``, ``funding``,
``open_interest``.

Each is a state of which only the newest value matters. One feed per topic keeps it:

* Newest wins, never back in time: a value older (by the exchange's own ``ts``) than the last
  one delivered is dropped (a rotation's second connection, a REST read that lags the socket),
  and so is an exact repeat of it.
* Fresh after every (re)subscription: the feed reads the value from REST (see
  :mod:`.latest_seeds`; ``ticker`` has no REST source and waits for its next push, a second at
  most) and the first value after a reconnect is delivered even if it repeats the last one, so
  that the consumer knows it is current again. Whichever comes first, the push or the REST
  reply, is delivered; the other only if it is newer.
* Conflated per symbol: a consumer that falls behind finds one value waiting, the newest, after
  the statuses that came before it (a value never overtakes a status).
* ``stale`` when a channel with a forced cadence (open interest: at least every 10 s) hears
  nothing for ``StreamOptions.stale_after_s`` while its connection is alive; the next push
  brings ``connected`` and its value.
* WOO X publishes the index of ``PERP_X_Y`` under ``SPOT_X_Y``: a stream asked with either
  symbol subscribes the ``SPOT_`` topic (streams asking with both share it) and hears its
  values, statuses and errors with the symbol it asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from host_stub.spec import (
    Channel,
    FundingEvent,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    StatusEvent,
    StatusKind,
    StreamConfig,
    TickerEvent,
    UnknownSymbol,
)
from woox_datasource import wire
from woox_datasource.channels import latest_seeds as seeds
from woox_datasource.rest.budget import set_priority
from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.live import LiveStream, StreamEnv

Value = QuoteEvent | TickerEvent | PriceEvent | FundingEvent | OpenInterestEvent
Seed = Callable[[FeedHost, str, bool], Awaitable[Value | None]]


@attrs.frozen
class LatestKind:
    """What differs between the latest-value channels."""

    channel: Channel
    topic: Callable[[str, bool], str]
    """(symbol, rpi) -> the topic."""
    decode: Callable[[wire.Push], Value]
    seed: Seed | None
    """The REST read of a fresh value (None: wait for the next push)."""
    published_as: Callable[[str], str] | None = None
    """The symbol WOO X publishes a symbol's values under, where it is another one (the index:
    ``SPOT_``)."""
    cadence_s: float | None = None
    """The documented forced cadence (seconds), if any: silence past it is ``stale``."""


def _no_rpi(topic: Callable[[str], str]) -> Callable[[str, bool], str]:
    return lambda symbol, _rpi: topic(symbol)


KINDS: Final[dict[Channel, LatestKind]] = {
    kind.channel: kind
    for kind in (
        LatestKind(Channel.BBO, lambda s, rpi: wire.bbo_topic(s, rpi=rpi), wire.decode_bbo,
                   seeds.seed_bbo),
        LatestKind(Channel.TICKER, _no_rpi(wire.ticker_topic), wire.decode_ticker, None),
        LatestKind(Channel.MARK_PRICE, _no_rpi(wire.mark_price_topic), wire.decode_price,
                   seeds.seed_mark_price),
        LatestKind(Channel.INDEX_PRICE, _no_rpi(wire.index_price_topic), wire.decode_price,
                   seeds.seed_index_price, published_as=wire.index_symbol),
        LatestKind(Channel.FUNDING, _no_rpi(wire.funding_topic), wire.decode_funding,
                   seeds.seed_funding),
        LatestKind(Channel.OPEN_INTEREST, _no_rpi(wire.open_interest_topic),
                   wire.decode_open_interest, seeds.seed_open_interest, cadence_s=10.0),
    )
}  # fmt: skip


class LatestStream(LiveStream):
    """A latest-value stream: one value waits at most (the newest), after the statuses that
    came before it."""

    def __init__(self, stream_id: str, *, symbol: str, config: StreamConfig, env: StreamEnv
                 ) -> None:  # fmt: skip
        super().__init__(stream_id, symbol=symbol, config=config, env=env)
        self._slot = 0
        """The queue key of the value waiting; a status moves it on (values never overtake)."""

    def offer_value(self, event: Value) -> None:
        if self.ended:
            return
        if event.symbol != self.symbol:  # the index, published under SPOT_
            event = attrs.evolve(event, symbol=self.symbol)
        if self._queue.conflate(self._slot, event):
            self._stats.conflated += 1

    def offer_status(self, event: StatusEvent) -> None:
        if event.symbol != self.symbol:
            event = attrs.evolve(event, symbol=self.symbol)
        self._slot += 1
        super().offer_status(event)

    def fail(self, error: BaseException) -> None:
        if isinstance(error, UnknownSymbol) and error.symbol != self.symbol:
            published = f"WOO X publishes its {self.config.channel} under {error.symbol!r}"
            error = UnknownSymbol(self.symbol, f"{published}: {error.detail}")
        super().fail(error)


class LatestFeed(Feed[LatestStream]):
    """One latest-value topic of one session (see the module docstring)."""

    def __init__(self, host: FeedHost, name: str, symbol: str, kind: LatestKind, rpi: bool
                 ) -> None:  # fmt: skip
        super().__init__(host, name, symbol)
        self.channel = kind.channel
        self.kind = kind
        self._decode = kind.decode
        self._rpi = rpi
        self.last: Value | None = None
        """The newest value delivered."""
        self._confirm = False
        """The next value is delivered even if it repeats the last (after a subscription)."""
        self._rotating = False
        self._seed_task: asyncio.Task[None] | None = None
        self._seedless = False
        """REST has no value for this topic (an index without a perpetual): pushes only."""
        self._heard = self._seen = 0
        self._heard_at = 0.0
        self._stale = False
        self._timer: asyncio.TimerHandle | None = None

    # -- values ---------------------------------------------------------------------------------

    def on_push(self, push: wire.Push, source: Connection) -> None:
        self._heard += 1
        try:
            value = self._decode(push)
        except wire.MalformedFrame as exc:
            self.malformed(exc)
            return
        if self._stale:
            self._stale = False
            self.status(StatusKind.CONNECTED)
        if self._offer(value) and self._seed_task is not None:
            self._seed_task.cancel()  # fresh from the socket: REST has nothing newer to say
            self._seed_task = None

    def _offer(self, value: Value) -> bool:
        """Deliver ``value`` unless it is older than the last one, or repeats it."""
        last = self.last
        if last is not None:
            if value.time < last.time:
                self.host.stats.stale += 1
                return False
            if value.time == last.time and value == last and not self._confirm:
                self.host.stats.duplicates += 1
                return False
        self.last = value
        self._confirm = False
        for stream in self.streams:
            stream.offer_value(value)
        return True

    async def _seed(self, seed: Seed) -> None:
        me = asyncio.current_task()
        set_priority(seeds.SEED_PRIORITY)
        try:
            value = await seed(self.host, self.symbol, self._rpi)
        except UnknownSymbol as exc:
            self._seedless = True
            self.host.limiter.warning("seed", "%s: no value from REST (%s); pushes only",
                                      self.name, exc)  # fmt: skip
            return
        except Exception as exc:  # (after the REST client's retries)
            self.host.limiter.warning("seed", "%s: no value from REST (%s); waiting for the "
                                      "next push", self.name, exc)  # fmt: skip
            return
        finally:
            if self._seed_task is me:
                self._seed_task = None
        if value is not None and not self.closed:
            self._offer(value)

    # -- subscription ---------------------------------------------------------------------------

    def attach(self, stream: LatestStream) -> None:
        super().attach(stream)
        if self.subscribed and self.last is not None:
            stream.offer_value(self.last)

    def on_subscribed(self, source: Connection, ack_time: int | None) -> None:
        super().on_subscribed(source, ack_time)
        self._watch()
        if self._rotating:
            return  # the old connection still delivers: the value never went away
        self._confirm = True
        seed = self.kind.seed
        if seed is not None and not self._seedless and self._seed_task is None:
            self._seed_task = self.spawn(self._seed(seed), "seed")

    def on_reconnecting(self, reason: str, source: Connection | None) -> None:
        self._unwatch()
        super().on_reconnecting(reason, source)

    def begin_handover(self, handover: Handover) -> None:
        self._rotating = True
        super().begin_handover(handover)  # newest wins, whichever connection brings it

    def end_handover(self, handover: Handover, completed: bool) -> None:
        self._rotating = False
        super().end_handover(handover, completed)
        self._watch()

    # -- staleness (a forced cadence) -------------------------------------------------------------

    def _watch(self) -> None:
        """Check for silence past the forced cadence, a quarter of the allowance at a time."""
        if self.kind.cadence_s is None or self._timer is not None or self.closed:
            return
        loop = asyncio.get_running_loop()
        self._seen, self._heard_at = self._heard, loop.time()
        self._timer = loop.call_later(self.host.options.stale_after_s / 4, self._check)

    def _unwatch(self) -> None:
        self._stale = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self.closed or not self.subscribed:
            return
        loop = asyncio.get_running_loop()
        now, allowance = loop.time(), self.host.options.stale_after_s
        if self._heard != self._seen:
            self._seen, self._heard_at = self._heard, now
        elif not self._stale and now - self._heard_at >= allowance:
            self._stale = True
            self.status(
                StatusKind.STALE,
                reason=f"no {self.channel} push for {allowance:g} s (WOO X pushes it at least "
                f"every {self.kind.cadence_s:g} s)",
            )
        self._timer = loop.call_later(allowance / 4, self._check)

    # -- ending -----------------------------------------------------------------------------------

    def fail(self, error: Exception) -> None:
        self._unwatch()
        super().fail(error)

    def shutdown(self) -> list[asyncio.Task[None]]:
        self._unwatch()
        return super().shutdown()


class LatestChannel(ChannelSpec):
    """The spec of one latest-value channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.kind = KINDS[channel]

    def topic(self, symbol: str, config: StreamConfig) -> str:
        return self.kind.topic(symbol, config.rpi)

    def label(self, symbol: str, config: StreamConfig) -> str:
        return f"{symbol}-{self.channel}" + "-rpi" * config.rpi

    def new_feed(self, host: FeedHost, topic: str, config: StreamConfig) -> LatestFeed:
        symbol = wire.normalize_symbol(config.symbol)
        if self.kind.published_as is not None:
            symbol = self.kind.published_as(symbol)
        return LatestFeed(host, topic, symbol, self.kind, config.rpi)

    def new_stream(
        self, stream_id: str, symbol: str, config: StreamConfig, env: StreamEnv
    ) -> LatestStream:
        return LatestStream(stream_id, symbol=symbol, config=config, env=env)


def latest_channels() -> list[LatestChannel]:
    return [LatestChannel(channel) for channel in KINDS]
