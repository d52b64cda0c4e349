"""The latest-value channels against the simulator: bbo (plain and RPI), ticker, mark and index
price, funding, open interest. Values equal the simulator's truth at their exchange time, never go
back in time, are conflated for a slow consumer, come fresh after every reconnect (from REST
where WOO X has it), and open interest that falls silent is reported stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from _stream_sim import Recorder, collect, running, statuses, wait_until

from host_stub.spec import (
    Channel,
    FundingEvent,
    InvalidRequest,
    OpenInterestEvent,
    PriceEvent,
    QuoteEvent,
    StatusEvent,
    StatusKind,
    StreamConfig,
    StreamEvent,
    TickerEvent,
    UnknownSymbol,
)
from woox_datasource import wire
from woox_datasource.simulator import WooXSimulator

Value = QuoteEvent | TickerEvent | PriceEvent | FundingEvent | OpenInterestEvent
VALUE_TYPES = (QuoteEvent, TickerEvent, PriceEvent, FundingEvent, OpenInterestEvent)

CASES = [
    ("PERP_BTC_USDT", Channel.BBO, False),
    ("SPOT_ETH_USDT", Channel.BBO, True),
    ("SPOT_BTC_USDT", Channel.TICKER, False),
    ("PERP_ETH_USDT", Channel.MARK_PRICE, False),
    ("PERP_BTC_USDT", Channel.INDEX_PRICE, False),
    ("SPOT_ETH_USDT", Channel.INDEX_PRICE, False),
    ("PERP_BTC_USDT", Channel.FUNDING, False),
    ("PERP_ETH_USDT", Channel.OPEN_INTEREST, False),
]
IDS = [f"{c}-{s}" + "-rpi" * r for s, c, r in CASES]


def values(events: list[StreamEvent]) -> list[Value]:
    return [e for e in events if isinstance(e, VALUE_TYPES)]


def n_values(n: int) -> Callable[[list[StreamEvent]], bool]:
    return lambda events: len(values(events)) >= n


def is_value(event: StreamEvent) -> bool:
    return isinstance(event, VALUE_TYPES)


def exact(value: Decimal | None, text: str) -> bool:
    """The exchange's digits, exactly (``"0.00020"`` is not ``"0.0002"`` here)."""
    return value is not None and str(value) == text


def assert_true(sim: WooXSimulator, symbol: str, rpi: bool, event: Value) -> None:
    """``event`` is what the simulator says was current at ``event.time``."""
    assert event.symbol == symbol
    at = event.time
    if isinstance(event, QuoteEvent):
        q = sim.bbo(symbol, rpi, at_ms=at)
        got = (event.bid_price, event.bid_size, event.ask_price, event.ask_size)
        want = (q.bid_price, q.bid_size, q.ask_price, q.ask_size)
        assert all(exact(g, w) for g, w in zip(got, want, strict=True)), (got, want, at)
    elif isinstance(event, TickerEvent):
        k = sim.ticker(symbol, at_ms=at)
        assert k.time == at
        got_t = (event.open, event.high, event.low, event.close, event.volume, event.quote_volume)
        want_t = (k.open, k.high, k.low, k.close, k.volume, k.amount)
        assert all(exact(g, w) for g, w in zip(got_t, want_t, strict=True)), (got_t, want_t)
        assert event.trades == k.trades
    elif isinstance(event, PriceEvent):
        if event.channel is Channel.MARK_PRICE:
            assert exact(event.price, sim.mark_price(symbol, at_ms=at)), (event, at)
        else:
            assert event.channel is Channel.INDEX_PRICE
            assert exact(event.price, sim.index_price(symbol, at_ms=at)), (event, at)
    elif isinstance(event, FundingEvent):
        f = sim.funding(symbol, at_ms=at)
        assert (f.time, f.next_funding_time) == (at, event.next_funding_time)
        assert exact(event.rate, f.rate)
    else:
        oi = sim.open_interest(symbol, at_ms=at)
        assert exact(event.open_interest, oi.open_interest) and oi.time <= at


def assert_in_time_order(events: list[StreamEvent]) -> None:
    """Values never go back in time; an exact repeat only right after a (re)subscription."""
    last: Value | None = None
    resubscribed = True
    for event in events:
        if isinstance(event, StatusEvent):
            resubscribed = resubscribed or event.kind is StatusKind.CONNECTED
        elif isinstance(event, VALUE_TYPES):
            if last is not None:
                assert event.time >= last.time, (last, event)
                assert resubscribed or event != last, event
            last, resubscribed = event, False


def subscribed_topics(sim: WooXSimulator) -> list[str]:
    return [
        topic
        for r in sim.ws_received
        if isinstance(r.parsed, dict) and r.parsed.get("cmd") == "SUBSCRIBE"
        for topic in r.parsed["params"]
    ]


# ---- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "channel", "rpi"), CASES, ids=IDS)
async def test_values_are_the_exchanges_exactly_and_in_time_order(
    symbol: str, channel: Channel, rpi: bool
) -> None:
    async with running({"speed": 60.0}) as h:
        stream = await h.manager.start(h.session, StreamConfig(symbol, channel=channel, rpi=rpi))
        events = await collect(stream, n_values(6), timeout=20)
        assert isinstance(events[0], StatusEvent) and events[0].kind is StatusKind.CONNECTED
        assert all(e.channel is channel for e in statuses(events))
        for event in values(events):
            assert_true(h.sim, symbol, rpi, event)
        assert_in_time_order(events)
        assert h.manager.stats.malformed == 0


async def test_perp_and_spot_share_the_index_topic_and_hear_their_own_symbol() -> None:
    async with running({"speed": 60.0}) as h:
        perp, spot = [
            await h.manager.start(h.session, StreamConfig(s, channel=Channel.INDEX_PRICE))
            for s in ("PERP_BTC_USDT", "SPOT_BTC_USDT")
        ]
        for stream, symbol in ((perp, "PERP_BTC_USDT"), (spot, "SPOT_BTC_USDT")):
            events = await collect(stream, n_values(3))
            assert {e.symbol for e in (*values(events), *statuses(events))} == {symbol}
            for event in values(events):
                assert_true(h.sim, symbol, False, event)
        assert subscribed_topics(h.sim) == ["indexprice@SPOT_BTC_USDT"]


async def test_fresh_values_of_many_perpetuals_cost_one_futures_request() -> None:
    async with running({"speed": 6.0}) as h:
        configs = [
            StreamConfig(symbol, channel=channel)
            for symbol in ("PERP_BTC_USDT", "PERP_ETH_USDT")
            for channel in (Channel.MARK_PRICE, Channel.INDEX_PRICE, Channel.OPEN_INTEREST)
        ]
        streams = [await h.manager.start(h.session, c) for c in configs]
        for stream in streams:
            await collect(stream, n_values(1))
        futures = [r for r in h.sim.requests if r.path.endswith("/futures")]
        assert len(futures) == 1 and "symbol" not in futures[0].query


# ---- reconnects -------------------------------------------------------------------------------


LIVE_BOUND_S = 1.5


@pytest.mark.parametrize(
    ("symbol", "channel"),
    [
        ("PERP_BTC_USDT", Channel.FUNDING),
        ("SPOT_ETH_USDT", Channel.BBO),
        ("PERP_ETH_USDT", Channel.OPEN_INTEREST),
        ("SPOT_BTC_USDT", Channel.TICKER),
    ],
)
async def test_live_again_within_1_5_s_after_drops_refusals_and_silence(
    symbol: str, channel: Channel
) -> None:
    # A minute of market time per second of real time: funding's next push is up to a second
    # away, so a fresh funding value within the bound comes from REST.
    async with running({"speed": 60.0}, ack_timeout_s=1.0) as h:
        stream = await h.manager.start(h.session, StreamConfig(symbol, channel=channel))
        recorder = Recorder(stream)
        try:
            await wait_until(lambda: bool(values(recorder.events)), timeout=10)
            delays: dict[str, float] = {}
            for fault in ("drop", "drop again", "refused", "silent"):
                start = time.monotonic()
                if fault.startswith("drop"):
                    await h.sim.drop_connections()
                    back = time.monotonic()
                elif fault == "refused":
                    h.sim.refuse_connections(1.0)
                    await h.sim.drop_connections()
                    back = start + 1.0
                else:
                    h.sim.go_silent(2.0)
                    back = start + 2.0
                await wait_until(
                    lambda: recorder.live_again_after(start, is_value) is not None,  # noqa: B023
                    timeout=15,
                )
                live = recorder.live_again_after(start, is_value)
                assert live is not None
                delays[fault] = live - back
            assert all(d <= LIVE_BOUND_S for d in delays.values()), delays
            events = recorder.events
            assert_in_time_order(events)
            for event in values(events):
                assert_true(h.sim, symbol, False, event)
        finally:
            await stream.aclose()
            await recorder.task


async def test_a_value_never_goes_back_in_time_across_rotations_and_duplicates() -> None:
    async with running(
        {"speed": 60.0, "max_connection_life_s": 1.0},
        max_connection_life_s=0.4,
        rotation_overlap_s=0.3,
    ) as h:
        streams = [
            await h.manager.start(h.session, StreamConfig("PERP_BTC_USDT", channel=c))
            for c in (Channel.MARK_PRICE, Channel.BBO)
        ]
        h.sim.duplicate_pushes(200)
        got = await asyncio.gather(
            *(collect(s, lambda ev: h.manager.stats.rotations >= 3, timeout=15) for s in streams)
        )
        for events in got:
            assert_in_time_order(events)
            for event in values(events):
                assert_true(h.sim, "PERP_BTC_USDT", False, event)
        assert h.manager.stats.connections_lost == 0
        assert h.manager.stats.duplicates > 0


async def test_a_slow_consumer_finds_only_the_newest_value_after_the_statuses() -> None:
    async with running({"speed": 600.0}) as h:
        stream = await h.manager.start(
            h.session, StreamConfig("PERP_ETH_USDT", channel=Channel.MARK_PRICE)
        )
        await collect(stream, n_values(1))
        base = h.manager.stats.conflated
        await wait_until(lambda: h.manager.stats.conflated >= base + 30)  # the consumer stalls
        assert stream.pending == 1  # one value waits, the newest
        await h.sim.drop_connections()
        await wait_until(lambda: stream.pending >= 4)  # value, reconnecting, connected, value
        await wait_until(lambda: h.manager.stats.conflated >= base + 60)
        events = await collect(stream, lambda ev: stream.pending == 0)
        kinds = [e.kind if isinstance(e, StatusEvent) else "value" for e in events]
        assert kinds == ["value", StatusKind.RECONNECTING, StatusKind.CONNECTED, "value"], kinds
        assert_in_time_order(events)
        for event in values(events):
            assert_true(h.sim, "PERP_ETH_USDT", False, event)


# ---- staleness --------------------------------------------------------------------------------


async def test_silent_open_interest_is_stale_until_its_next_push() -> None:
    # The market clock stands still: no push is ever due, while the connection stays alive.
    async with running({"speed": 0.0}, stale_after_s=0.4) as h:
        oi, mark = [
            await h.manager.start(h.session, StreamConfig("PERP_BTC_USDT", channel=c))
            for c in (Channel.OPEN_INTEREST, Channel.MARK_PRICE)
        ]
        events = await collect(oi, lambda ev: bool(statuses(ev, StatusKind.STALE)), timeout=5)
        (first,) = values(events)  # the fresh value from REST
        assert_true(h.sim, "PERP_BTC_USDT", False, first)
        (stale,) = statuses(events, StatusKind.STALE)
        assert "10 s" in stale.reason and "open_interest" in stale.reason
        # The forced push is due every 10 s; it repeats an unchanged value with the time of its
        # last change, which the stream rightly drops as a repeat. Advance by whole periods until
        # the value has changed, so that the push carries a new one.
        changed = h.sim.open_interest("PERP_BTC_USDT", at_ms=first.time).time
        now, step = h.sim.clock.now_ms(), 10_000
        while h.sim.open_interest("PERP_BTC_USDT", at_ms=now + step).time <= changed:
            step += 10_000
        h.sim.clock.advance(step)
        after = await collect(oi, n_values(1))
        assert [type(e) for e in after] == [StatusEvent, OpenInterestEvent]
        assert statuses(after)[0].kind is StatusKind.CONNECTED
        assert_true(h.sim, "PERP_BTC_USDT", False, values(after)[0])
        marks = await collect(mark, n_values(1))
        assert not statuses(marks, StatusKind.STALE)  # no forced cadence, never stale


# ---- REST trouble -----------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "channel", "rpi"), [
    ("PERP_BTC_USDT", Channel.FUNDING, False),
    ("SPOT_BTC_USDT", Channel.BBO, True),
    ("PERP_ETH_USDT", Channel.OPEN_INTEREST, False),
])  # fmt: skip
async def test_fresh_values_come_through_bursts_of_429_and_500(
    symbol: str, channel: Channel, rpi: bool
) -> None:
    # The market clock stands still: no push is ever due, so the value can only come from REST.
    async with running({"speed": 0.0}) as h:
        h.sim.faults.fail_next(3, 429)
        h.sim.faults.fail_next(2, 500)
        stream = await h.manager.start(h.session, StreamConfig(symbol, channel=channel, rpi=rpi))
        events = await collect(stream, n_values(1), timeout=10)
        (value,) = values(events)
        assert_true(h.sim, symbol, rpi, value)
        faults = [r.fault for r in h.sim.requests if r.fault]
        assert faults == ["rate_limit"] * 3 + ["internal"] * 2


async def test_when_rest_keeps_failing_the_next_push_brings_the_value() -> None:
    async with running({"speed": 60.0}) as h:
        h.sim.faults.fail_next(50, 500)
        stream = await h.manager.start(
            h.session, StreamConfig("PERP_BTC_USDT", channel=Channel.FUNDING)
        )
        events = await collect(stream, n_values(2), timeout=15)
        for event in values(events):
            assert_true(h.sim, "PERP_BTC_USDT", False, event)
        assert all(r.fault == "internal" for r in h.sim.requests)  # none answered: from pushes


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: StreamConfig("PERP_BTC_USDT", channel=Channel.BBO, depth=50), "depth"),
        (lambda: StreamConfig("PERP_BTC_USDT", 60, channel=Channel.BBO), "interval"),
        (lambda: StreamConfig("PERP_BTC_USDT", channel=Channel.TICKER, rpi=True), "rpi"),
        (lambda: StreamConfig("PERP_BTC_USDT", channel="quotes"), "unknown channel 'quotes'"),
    ],
)
def test_options_a_channel_does_not_take_are_refused_by_name(
    build: Callable[[], Any], match: str
) -> None:
    with pytest.raises(InvalidRequest, match=match):
        build()


@pytest.mark.parametrize("channel", [Channel.FUNDING, Channel.MARK_PRICE, Channel.OPEN_INTEREST])
async def test_a_perpetual_only_channel_on_a_spot_symbol_is_refused_before_subscribing(
    channel: Channel,
) -> None:
    async with running() as h:
        with pytest.raises(
            InvalidRequest, match=rf"{channel} channel exists for perp markets only"
        ):
            await h.manager.start(h.session, StreamConfig("SPOT_BTC_USDT", channel=channel))
        assert h.sim.connections_opened == 0
        assert h.manager.streams == {}


@pytest.mark.parametrize(
    ("symbol", "channel"),
    [
        ("SPOT_NOPE_USDT", Channel.BBO),
        ("PERP_NOPE_USDT", Channel.FUNDING),
        ("PERP_NOPE_USDT", Channel.INDEX_PRICE),
    ],
)
async def test_an_unknown_symbol_fails_its_stream_only(symbol: str, channel: Channel) -> None:
    async with running() as h:
        nope = await h.manager.start(h.session, StreamConfig(symbol, channel=channel))
        other = await h.manager.start(h.session, StreamConfig("PERP_BTC_USDT", channel=channel))
        with pytest.raises(UnknownSymbol) as info:
            await collect(nope, lambda ev: False)
        assert info.value.symbol == symbol
        assert nope.id not in h.manager.streams
        await collect(other, n_values(2))
        assert h.sim.connections_opened == 1


def test_the_wire_names_the_index_topic_under_spot() -> None:
    assert wire.index_price_topic("PERP_BTC_USDT") == "indexprice@SPOT_BTC_USDT"
    assert wire.perp_symbol("SPOT_BTC_USDT") == "PERP_BTC_USDT"
