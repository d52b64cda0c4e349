"""Helpers for the stream tests: a simulator + session + manager harness, event collection with
timeouts (never sleeping-and-hoping), exact comparison with the simulator's ground truth, and a
check that no stream task is left behind."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal, DecimalTuple
from typing import Any

import aiohttp
import attrs

from host_stub.spec import OHLCV, CandleEvent, StatusEvent, StatusKind, StreamEvent
from woox_datasource.channels.registry import CHANNELS
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.simulator import SimCandle, WooXSimulator
from woox_datasource.stream import LiveStream, StreamManager, StreamOptions

FAST: dict[str, Any] = {
    "ping_interval_s": 0.2,
    "silence_timeout_s": 1.0,
    "ack_timeout_s": 2.0,
    "close_timeout_s": 0.5,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "fill_deadline_s": 10.0,
    "fill_lag_retries": 2,
    "fill_lag_delay_s": 0.05,
    "seed": 7,
}
"""Stream options scaled down for loopback tests."""


@attrs.define
class Harness:
    sim: WooXSimulator
    session: aiohttp.ClientSession
    manager: StreamManager
    rest_budget: RateBudget


def stream_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of the stream package still alive (the simulator's own are named woox-sim-*)."""
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("woox-stream-") and not t.done()
    ]


_SERVER_SIDE = ("RequestHandler.start", "RequestHandler._handle_request", "StallServer._serve")
"""aiohttp's server-side tasks (one per connection, one per request): the simulator's."""


def new_tasks(baseline: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Tasks alive now that were not in ``baseline``, other than the servers' own (the
    simulator's named ``woox-sim-*`` and aiohttp's handlers, which end when a client closes its
    socket, so an open socket on the client side shows up as the server's open connection)."""

    def servers(task: asyncio.Task[Any]) -> bool:
        qualname = getattr(task.get_coro(), "__qualname__", "")
        return task.get_name().startswith("woox-sim-") or qualname in _SERVER_SIDE

    return [t for t in asyncio.all_tasks() if t not in baseline and not t.done() and not servers(t)]


class StallServer:
    """A TCP listener on loopback that accepts connections and never answers: a WebSocket
    handshake to it stays pending. ``open`` counts the sockets clients still hold open."""

    def __init__(self) -> None:
        self.open = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        self._writers.append(writer)
        try:
            while await reader.read(4096):  # until the client closes (EOF) or resets
                pass
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.close()

    @property
    def ws_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v3/public"

    async def __aenter__(self) -> StallServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


def rest_client(
    sim: WooXSimulator, budget: RateBudget
) -> Callable[[aiohttp.ClientSession], RestClient]:
    def build(session: aiohttp.ClientSession) -> RestClient:
        return RestClient(session, sim.rest_url, budget=budget, backoff_base_s=0.02,
                          backoff_cap_s=0.2)  # fmt: skip

    return build


@asynccontextmanager
async def running(
    sim_args: dict[str, Any] | None = None,
    *,
    ws_url: str | None = None,
    rest_rate: int = 10,
    **options: Any,
) -> AsyncIterator[Harness]:
    """A simulator (fast clock unless told otherwise, or given a ``clock``), a session and a
    manager (streaming from ``ws_url`` if given, else the simulator; REST budget ``rest_rate``
    requests per second); on exit the manager is closed and no stream task may be left."""
    args = dict(sim_args or {})
    if "clock" not in args:
        args.setdefault("speed", 600.0)
    async with WooXSimulator(**args) as sim, aiohttp.ClientSession() as session:
        budget = RateBudget(max_requests=rest_rate)
        manager = StreamManager(
            ws_url or sim.ws_url,
            rest_client(sim, budget),
            StreamOptions(**{**FAST, **options}),
            channels=CHANNELS,
        )
        try:
            yield Harness(sim, session, manager, budget)
        finally:
            await manager.aclose()
            assert stream_tasks() == [], stream_tasks()


async def collect(
    stream: LiveStream,
    until: Callable[[list[StreamEvent]], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the whole collection, reported
) -> list[StreamEvent]:
    """Events of ``stream`` until ``until(events)`` holds; TimeoutError (with what came) if not."""
    events: list[StreamEvent] = []
    try:
        async with asyncio.timeout(timeout):
            async for event in stream:
                events.append(event)
                if until(events):
                    return events
    except TimeoutError:
        raise TimeoutError(f"condition not met in {timeout} s; got {summary(events)}") from None
    raise AssertionError(f"stream ended before the condition held; got {summary(events)}")


def finals(events: Iterable[StreamEvent]) -> list[OHLCV]:
    return [e.candle for e in events if isinstance(e, CandleEvent) and e.final]


def statuses(events: Iterable[StreamEvent], kind: StatusKind | None = None) -> list[StatusEvent]:
    return [e for e in events if isinstance(e, StatusEvent) and (kind is None or e.kind is kind)]


def n_finals(n: int) -> Callable[[list[StreamEvent]], bool]:
    return lambda events: len(finals(events)) >= n


def summary(events: list[StreamEvent]) -> str:
    kinds = [
        ("F" if e.final else "p")
        if isinstance(e, CandleEvent)
        else e.kind.value
        if isinstance(e, StatusEvent)
        else type(e).__name__
        for e in events
    ]
    return f"{len(events)} events: {' '.join(kinds[-40:])}"


def _digits(value: str | Decimal) -> DecimalTuple:
    """Sign, digits and exponent: equal only if the exchange's exact digits were kept."""
    return Decimal(value).as_tuple()


def candle_key(c: OHLCV) -> tuple[object, ...]:
    values = (c.open, c.high, c.low, c.close, c.volume, c.quote_volume)
    return (c.symbol, c.open_time, c.close_time, *(_digits(x) for x in values))


def sim_key(c: SimCandle) -> tuple[object, ...]:
    values = (c.open, c.high, c.low, c.close, c.volume, c.amount)
    return (c.symbol, c.start_ms, c.end_ms, *(_digits(x) for x in values))


def assert_exact(sim: WooXSimulator, got: list[OHLCV], sim_type: str) -> None:
    """``got`` is exactly the simulator's final candles over its span: same digits, no missing,
    no duplicate, ascending."""
    assert got, "no final candle at all"
    truth = sim.candles(got[0].symbol, sim_type, got[0].open_time, got[-1].close_time)
    want = [sim_key(c) for c in truth]
    have = [candle_key(c) for c in got]
    if have != want:
        opens_have = [c.open_time for c in got]
        opens_want = [c.start_ms for c in truth]
        missing = sorted(set(opens_want) - set(opens_have))
        dup = len(opens_have) - len(set(opens_have))
        wrong = [h for h, w in zip(have, want, strict=False) if h != w][:3]
        raise AssertionError(f"{len(got)} finals vs {len(truth)} true: missing {missing[:10]}, "
                             f"{dup} duplicated, first differences {wrong}")  # fmt: skip


def is_candle(event: StreamEvent) -> bool:
    return isinstance(event, CandleEvent)


class Recorder:
    """Every event of a stream with the monotonic time it reached the consumer."""

    def __init__(self, stream: LiveStream) -> None:
        self.stream = stream
        self.log: list[tuple[float, StreamEvent]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.stream:
            self.log.append((time.monotonic(), event))

    @property
    def events(self) -> list[StreamEvent]:
        return [e for _, e in self.log]

    def live_again_after(
        self, moment: float, data: Callable[[StreamEvent], bool] = is_candle
    ) -> float | None:
        """When the stream was live again after ``moment``: its first data event (a candle,
        unless ``data`` says otherwise) after the first ``connected`` that follows a
        ``reconnecting``. Pushes are held while a gap is filled, and a fill delivers its finals
        and releases the held pushes in one step, so for candles this is "gap-filled and
        live"."""
        stage = 0
        for at, event in self.log:
            if at < moment:
                continue
            if data(event):
                if stage == 2:
                    return at
            elif not isinstance(event, StatusEvent):
                continue
            elif stage == 0 and event.kind is StatusKind.RECONNECTING:
                stage = 1
            elif stage == 1 and event.kind is StatusKind.CONNECTED:
                stage = 2
        return None


class AttemptLog:
    """When the simulator saw handshakes (accepted or refused), by polling its counters: an
    observation independent of the code under test. Each attempt is known to lie in an interval
    (the previous poll, the poll that saw it], so spacing checks use the bounds, not a guess."""

    def __init__(self, sim: WooXSimulator) -> None:
        self.sim = sim
        self.opened: list[tuple[float, float]] = []
        self.refused: list[tuple[float, float]] = []
        self._seen = (sim.connections_opened, sim.connections_refused)
        self._last = time.monotonic()
        self._task = asyncio.create_task(self._poll())

    def _look(self) -> None:
        now = time.monotonic()
        opened, refused = self.sim.connections_opened, self.sim.connections_refused
        self.opened += [(self._last, now)] * (opened - self._seen[0])
        self.refused += [(self._last, now)] * (refused - self._seen[1])
        self._seen, self._last = (opened, refused), now

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            self._look()

    @property
    def attempts(self) -> list[tuple[float, float]]:
        return sorted(self.opened + self.refused)

    def most_in_any(self, window_s: float) -> int:
        """The most attempts that may have fallen in one window of ``window_s`` (counting an
        attempt in if its interval touches the window)."""
        spans = self.attempts
        return max((sum(1 for lo, _ in spans[i:] if lo - start < window_s)
                    for i, (_, start) in enumerate(spans)), default=0)  # fmt: skip

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait([self._task])
        self._look()


def spacing(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """For consecutive attempts: (least, most) time that can have passed between them."""
    return [(b_lo - a_hi, b_hi - a_lo) for (a_lo, a_hi), (b_lo, b_hi) in itertools.pairwise(spans)]


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait for a condition on the simulator's counters (it exposes counts, not events)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - polling counters the simulator exposes
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise TimeoutError(f"condition not met within {timeout} s") from None
