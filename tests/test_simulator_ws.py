"""The simulator's WebSocket side, over real sockets: WOO X v3 ``/v3/public`` (woox-api.md §5).

Most tests freeze the market clock (speed 0) and move it with ``clock.advance`` so every push is
predictable; one runs the clock fast to check the pushes as a client sees them live."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from _sim_helpers import MINUTE, T0, Json, command, eventually, history, recv, recv_until, row_of

from woox_datasource.simulator import MALFORMED_KINDS, WS_TYPES, MarketClock, WooXSimulator
from woox_datasource.simulator.intervals import interval

NOW = T0 + 30 * MINUTE + 7_000
BTC = "SPOT_BTC_USDT"
TOPIC = f"kline@{BTC}@1m"
WsClient = aiohttp.ClientWebSocketResponse


def frozen(at: int = NOW, **options: Any) -> WooXSimulator:
    options.setdefault("push_interval_s", 0.01)
    options.setdefault("rate_limit", None)
    return WooXSimulator(clock=MarketClock(at, speed=0), **options)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def sim() -> AsyncIterator[WooXSimulator]:
    async with frozen() as simulator:
        yield simulator


@pytest.fixture
async def ws(sim: WooXSimulator, session: aiohttp.ClientSession) -> AsyncIterator[WsClient]:
    async with session.ws_connect(sim.ws_url) as client:
        yield client


def data_of(push: Json) -> Json:
    data = push["data"]
    assert isinstance(data, dict)
    return data


def as_row(push: Json) -> Json:
    """A push's candle in klineHistory row form, to compare with REST and ground truth."""
    d = data_of(push)
    return {
        "symbol": d["s"], "open": d["o"], "close": d["c"], "high": d["h"], "low": d["l"],
        "volume": d["v"], "amount": d["a"], "type": interval(d["t"]).name,
        "startTimestamp": d["st"], "endTimestamp": d["et"],
    }  # fmt: skip


def is_push(frame: Json) -> bool:
    return "topic" in frame


# ------------------------------------------------------------------------------ commands


async def test_subscribe_ack_lists_only_accepted_topics(sim: WooXSimulator, ws: WsClient) -> None:
    refused = [
        "kline@SPOT_NOPE_USDT@1m",  # unknown symbol
        "kline@spot_btc_usdt@1m",  # symbols are case-sensitive
        "tickers@SPOT_BTC_USDT",  # a topic WOO X v3 does not have
        "kline@SPOT_BTC_USDT@1mon",  # REST spelling, not a WS interval
        "kline@SPOT_BTC_USDT@1y",
        "SPOT_BTC_USDT@kline_1m",  # the v2 form
        "kline_SPOT_BTC_USDT_1m",  # the original Go plugin's mistake
    ]
    ack = await command(ws, "SUBSCRIBE", TOPIC, *refused[:3], "kline@PERP_ETH_USDT@1M")
    assert set(ack) == {"id", "cmd", "success", "time", "data"}
    assert (ack["id"], ack["cmd"], ack["success"], ack["time"]) == ("1", "SUBSCRIBE", True, NOW)
    assert ack["data"] == [TOPIC, "kline@PERP_ETH_USDT@1M"]
    for topic in refused[3:]:
        assert (await command(ws, "SUBSCRIBE", topic))["data"] == []
    duplicate = await command(ws, "SUBSCRIBE", TOPIC)
    assert (duplicate["success"], duplicate["data"]) == (True, [])
    assert sim.subscriptions() == {1: [TOPIC, "kline@PERP_ETH_USDT@1M"]}


async def test_lowercase_cmd_is_accepted(ws: WsClient) -> None:
    await ws.send_json({"id": "lc", "cmd": "subscribe", "params": [TOPIC]})
    ack = (await recv_until(ws, lambda f: f.get("id") == "lc"))[-1]
    assert (ack["cmd"], ack["success"], ack["data"]) == ("SUBSCRIBE", True, [TOPIC])


async def test_more_than_10_topics_in_one_request_is_refused_whole(
    sim: WooXSimulator, ws: WsClient
) -> None:
    topics = [f"kline@{BTC}@{t}" for t in list(WS_TYPES)[:11]]
    await ws.send_json({"id": "8", "cmd": "SUBSCRIBE", "params": topics})
    answer = await ws.receive_str(timeout=5)
    assert answer == (
        f'{{"id":"8","cmd":"SUBSCRIBE","success":false,"time":{NOW},'
        '"data":"Command type invalid!"}'
    )
    assert sim.subscriptions() == {1: []}
    assert (await command(ws, "SUBSCRIBE", *topics[:10]))["data"] == topics[:10]


async def test_100_topics_per_connection_then_silently_refused(
    sim: WooXSimulator, ws: WsClient
) -> None:
    topics = [f"kline@{s}@{t}" for s in sorted(sim.symbols) for t in WS_TYPES][:101]
    assert len(topics) == 101
    for k in range(11):
        await ws.send_json(
            {"id": str(k), "cmd": "SUBSCRIBE", "params": topics[10 * k : 10 * k + 10]}
        )
    # Every topic whose forming candle has trades gets its provisional push.
    expected = set()
    for topic in topics[:100]:
        _, symbol, ws_type = topic.split("@")
        start = interval(ws_type).floor(NOW)
        if sim.candle_at(symbol, ws_type, start).volume != "0":
            expected.add(topic)
    acks: dict[str, list[str]] = {}
    pushed: set[str] = set()
    async with asyncio.timeout(10):
        while len(acks) < 11 or pushed != expected:
            frame = await recv(ws)
            if is_push(frame):
                assert frame["topic"] in expected
                pushed.add(frame["topic"])
            else:
                assert frame["success"] is True
                acks[frame["id"]] = frame["data"]
    assert [acks[str(k)] for k in range(10)] == [topics[10 * k : 10 * k + 10] for k in range(10)]
    assert acks["10"] == []  # the 101st topic
    assert sim.subscriptions()[1] == topics[:100]


async def test_unsubscribe_acks_the_removed_topics(sim: WooXSimulator, ws: WsClient) -> None:
    eth = "kline@SPOT_ETH_USDT@5m"
    await command(ws, "SUBSCRIBE", TOPIC, eth)
    ack = await command(ws, "UN_SUBSCRIBE", TOPIC, "kline@SPOT_NOPE_USDT@1m", cid="u")
    assert (ack["cmd"], ack["success"], ack["data"]) == ("UN_SUBSCRIBE", True, [TOPIC])
    assert sim.subscriptions() == {1: [eth]}


async def test_ping_pong_and_error_answers_keep_the_socket_open(ws: WsClient) -> None:
    await ws.send_json({"cmd": "PING", "ts": 123})
    assert await ws.receive_str(timeout=5) == f'{{"cmd":"PONG","success":true,"time":{NOW}}}'
    await ws.send_json({"id": "v1", "event": "subscribe", "topic": "SPOT_BTC_USDT@kline_1m"})
    assert await ws.receive_str(timeout=5) == (
        f'{{"id":"v1","cmd":"ERROR","success":false,"time":{NOW},"data":"Command type invalid!"}}'
    )
    for garbage in ("hello", "[1,2]", '"PING"', "{"):
        await ws.send_str(garbage)
        assert await ws.receive_str(timeout=5) == (
            f'{{"id":"","cmd":"ERROR","success":false,"time":{NOW},"data":"Invalid request."}}'
        )
    await ws.send_bytes(b"\x00\x01")
    assert json.loads(await ws.receive_str(timeout=5))["data"] == "Invalid request."
    await ws.send_json({"id": 7, "cmd": "NOPE"})
    assert json.loads(await ws.receive_str(timeout=5))["data"] == "Command type invalid!"
    await ws.send_json({"cmd": "PING"})
    assert json.loads(await ws.receive_str(timeout=5))["cmd"] == "PONG"
    assert not ws.closed


async def test_frames_from_clients_are_recorded(sim: WooXSimulator, ws: WsClient) -> None:
    await ws.send_str("hello")
    await ws.send_json({"cmd": "PING", "ts": 5})
    await ws.ping(b"x")
    await recv(ws)
    await recv(ws)
    await eventually(lambda: len(sim.ws_received) == 3)
    first, second, third = sim.ws_received
    assert (first.kind, first.text, first.parsed) == ("text", "hello", None)
    assert second.parsed == {"cmd": "PING", "ts": 5}
    assert third.kind == "ping"
    assert {r.connection_id for r in sim.ws_received} == {1}
    assert first.time <= second.time <= third.time


# ------------------------------------------------------------------------------ pushes


async def test_provisional_pushes_then_one_final_equal_to_rest_and_ground_truth(
    session: aiohttp.ClientSession,
) -> None:
    start = T0 + 10 * MINUTE
    async with frozen(start + 50_000) as sim, session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", TOPIC)
        first = await recv(ws)
        assert first["topic"] == TOPIC and first["ts"] == start + 50_000
        assert as_row(first) == row_of(sim.provisional(BTC, "1m", start, start + 50_000))
        assert data_of(first)["t"] == "1m" and data_of(first)["ts"] == start + 50_000
        sim.clock.advance(5_000)
        second = await recv(ws)
        assert float(data_of(second)["v"]) >= float(data_of(first)["v"])
        assert as_row(second) == row_of(sim.provisional(BTC, "1m", start, start + 55_000))
        sim.clock.advance(10_000)  # 65 s: the candle closed 5 s ago
        final, following = await recv(ws), await recv(ws)
        d = data_of(final)
        assert (d["st"], d["et"]) == (start, start + MINUTE)
        assert final["ts"] == start + 65_000 >= d["et"] and d["ts"] == d["et"]
        rest = await history(session, sim, symbol=BTC, type="1m", before=start + 1, limit=1)
        assert as_row(final) == rest[0] == row_of(sim.candle_at(BTC, "1m", start))
        assert data_of(following)["st"] == start + MINUTE
        assert following["ts"] < data_of(following)["et"]


async def test_candles_closing_between_ticks_are_each_finalised_in_order(
    sim: WooXSimulator, ws: WsClient
) -> None:
    await command(ws, "SUBSCRIBE", TOPIC)
    opened = data_of(await recv(ws))["st"]
    sim.clock.advance(7 * MINUTE)
    frames = await recv_until(ws, lambda f: data_of(f)["ts"] < data_of(f)["et"])
    finals, live = frames[:-1], frames[-1]
    assert [data_of(f)["st"] for f in finals] == [opened + k * MINUTE for k in range(7)]
    assert [as_row(f) for f in finals] == [
        row_of(c) for c in sim.candles(BTC, "1m", opened, opened + 7 * MINUTE)
    ]
    assert data_of(live)["st"] == opened + 7 * MINUTE


@pytest.mark.parametrize("ws_type", list(WS_TYPES))
async def test_every_ws_interval_closes_into_the_same_candle_rest_serves(
    session: aiohttp.ClientSession, ws_type: str
) -> None:
    iv = interval(ws_type)
    boundary = iv.start_of(iv.index_of(NOW) + 1)
    async with frozen(boundary - 500) as sim, session.ws_connect(sim.ws_url) as ws:
        topic = f"kline@{BTC}@{ws_type}"
        assert (await command(ws, "SUBSCRIBE", topic))["data"] == [topic]
        sim.clock.advance(1_000)
        final = (await recv_until(ws, lambda f: f["ts"] >= data_of(f)["et"]))[-1]
        d = data_of(final)
        assert (d["t"], d["et"]) == (ws_type, boundary)
        truth = sim.candle_at(BTC, ws_type, d["st"])
        assert as_row(final) == row_of(truth)
        if ws_type != "3d":  # the only interval REST does not serve
            rows = await history(
                session, sim, symbol=BTC, type=truth.type, before=boundary, limit=1
            )
            assert rows == [as_row(final)]


async def test_a_candle_without_trades_gets_only_its_final_push(
    session: aiohttp.ClientSession,
) -> None:
    symbol = "SPOT_1INCH_USDT"
    quiet = next(
        c for c in WooXSimulator().candles(symbol, "1m", T0, T0 + 600 * MINUTE) if c.volume == "0"
    )
    async with frozen(quiet.start_ms + 30_000) as sim, session.ws_connect(sim.ws_url) as ws:
        mine, witness = f"kline@{symbol}@1m", f"kline@{BTC}@1m"
        await command(ws, "SUBSCRIBE", mine, witness)
        assert (await recv(ws))["topic"] == witness  # the tick ran, and pushed nothing for mine
        sim.clock.advance(31_000)
        final = (await recv_until(ws, lambda f: f["topic"] == mine))[-1]
        assert as_row(final) == row_of(quiet)
        d = data_of(final)
        assert d["v"] == d["a"] == "0" and d["o"] == d["h"] == d["l"] == d["c"]


async def test_live_clock_pushes_as_a_client_sees_them() -> None:
    clock = MarketClock(T0 + 58_000, speed=300)  # a 1m candle every 0.2 s
    async with (
        WooXSimulator(clock=clock, push_interval_s=0.02) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.ws_url) as ws,
    ):
        await command(ws, "SUBSCRIBE", TOPIC)
        pushes: list[Json] = []
        async with asyncio.timeout(20):
            while len(_finals_in(pushes)) < 4:
                pushes.append(await recv(ws))
    _check_live(sim, pushes)


def _finals_in(frames: list[Json]) -> list[Json]:
    return [f for f in frames if f["ts"] >= data_of(f)["et"]]


def _check_live(sim: WooXSimulator, pushes: list[Json]) -> None:
    finals = _finals_in(pushes)
    starts = [data_of(f)["st"] for f in finals]
    assert starts == [starts[0] + k * MINUTE for k in range(len(starts))]
    for final in finals:
        assert as_row(final) == row_of(sim.candle_at(BTC, "1m", data_of(final)["st"]))
    closed = set()
    for push in pushes:
        d = data_of(push)
        assert d["st"] not in closed, "a push for a candle after its final"
        if push["ts"] >= d["et"]:
            closed.add(d["st"])
        else:
            assert push["ts"] >= d["st"]
    assert len(pushes) > len(finals)  # provisional states came too


# ------------------------------------------------------------------------------ liveness


async def test_idle_connection_is_aborted_without_a_close_frame(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(idle_timeout_s=0.3) as sim, session.ws_connect(sim.ws_url) as ws:
        started = time.monotonic()
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
        assert time.monotonic() - started >= 0.25
        await eventually(lambda: sim.active_connections == 0)


@pytest.mark.parametrize("keepalive", ["app", "protocol"])
async def test_pings_keep_an_idle_connection_open(
    session: aiohttp.ClientSession, keepalive: str
) -> None:
    async with frozen(idle_timeout_s=0.3) as sim, session.ws_connect(sim.ws_url) as ws:
        for _ in range(10):  # 1 s of traffic every 0.1 s: three idle timeouts' worth
            if keepalive == "app":
                await ws.send_json({"cmd": "PING", "ts": 1})
                assert (await recv(ws))["cmd"] == "PONG"
            else:
                await ws.ping()
            await asyncio.sleep(0.1)
        assert not ws.closed
        assert sim.active_connections == 1


async def test_server_pings_and_client_pongs_are_counted(session: aiohttp.ClientSession) -> None:
    async with frozen(server_ping_interval_s=0.1) as sim, session.ws_connect(sim.ws_url) as ws:
        ping = await recv(ws)
        assert ping == {"cmd": "PING", "ts": NOW}
        await ws.send_json({"cmd": "PONG", "ts": ping["ts"]})
        await eventually(lambda: sim.pongs_received == 1)
        await eventually(lambda: sim.stats.server_pings_sent >= 2)


async def test_connections_are_closed_at_the_end_of_their_life(
    session: aiohttp.ClientSession,
) -> None:
    async with frozen(max_connection_life_s=0.3) as sim, session.ws_connect(sim.ws_url) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
        await eventually(lambda: sim.active_connections == 0)


async def test_close_says_going_away_and_leaves_no_task_behind(
    session: aiohttp.ClientSession,
) -> None:
    sim = frozen(server_ping_interval_s=0.05)
    await sim.start()
    async with session.ws_connect(sim.ws_url) as ws:
        await command(ws, "SUBSCRIBE", TOPIC)
        await sim.close()
        msg = await ws.receive(timeout=5)
        while msg.type is aiohttp.WSMsgType.TEXT:  # pushes already on the wire
            msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
    await sim.close()  # idempotent
    assert sim.active_connections == 0
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("woox-sim")]
    assert leftovers == []


# ------------------------------------------------------------------------------ faults


async def test_drop_connections_aborts_every_socket(session: aiohttp.ClientSession) -> None:
    async with frozen() as sim:
        async with session.ws_connect(sim.ws_url) as one, session.ws_connect(sim.ws_url) as two:
            await eventually(lambda: sim.active_connections == 2)
            await sim.drop_connections()
            assert sim.active_connections == 0
            for ws in (one, two):
                msg = await ws.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
                assert ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
        async with session.ws_connect(sim.ws_url) as again:
            await again.send_json({"cmd": "PING"})
            assert (await recv(again))["cmd"] == "PONG"
        assert sim.connections_opened == 3


async def test_silence_loses_acks_pongs_and_pushes(sim: WooXSimulator, ws: WsClient) -> None:
    sim.go_silent(0.8)
    silence_ends = time.monotonic() + 0.8
    await ws.send_json({"id": "s", "cmd": "SUBSCRIBE", "params": [TOPIC]})
    await ws.send_json({"cmd": "PING"})
    await eventually(lambda: sim.stats.pushes_lost == 1)  # the first provisional push, lost
    sim.clock.advance(MINUTE)
    await eventually(lambda: sim.stats.pushes_lost == 3)  # a final and a provisional, lost too
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=max(0.05, silence_ends - time.monotonic() - 0.05))
    await asyncio.sleep(max(0.0, silence_ends - time.monotonic()))
    await ws.send_json({"cmd": "PING"})
    assert (await recv(ws))["cmd"] == "PONG"  # nothing queued came first
    assert sim.subscriptions() == {1: [TOPIC]}  # the command itself took effect
    sim.clock.advance(MINUTE)
    frames = await recv_until(ws, lambda f: data_of(f)["ts"] < data_of(f)["et"])
    assert [data_of(f)["st"] for f in frames] == [
        NOW // MINUTE * MINUTE + k * MINUTE for k in (1, 2)
    ]


async def test_refused_handshakes_then_recovery(sim: WooXSimulator, session: aiohttp.ClientSession
                                               ) -> None:  # fmt: skip
    sim.refuse_connections(0.4)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(sim.ws_url)
    assert refused.value.status == 503
    assert sim.stats.connections_refused == 1 and sim.connections_opened == 0
    deadline = time.monotonic() + 5
    while True:
        try:
            ws = await session.ws_connect(sim.ws_url)
            break
        except aiohttp.WSServerHandshakeError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    await ws.close()
    assert sim.connections_opened == 1


def _malformed_kind(text: str) -> str | None:
    try:
        frame = json.loads(text)
    except ValueError:
        return "bad_json"
    if not isinstance(frame, dict):
        return "not_object"
    data = frame["data"]
    if "o" not in data or "st" not in data:
        return "missing_fields"
    if not isinstance(data["o"], str) or not isinstance(data["st"], int):
        return "wrong_types"
    if frame["topic"] != TOPIC:
        return "unknown_topic"
    return None


async def test_malformed_frames_precede_the_next_pushes(sim: WooXSimulator, ws: WsClient) -> None:
    await command(ws, "SUBSCRIBE", TOPIC)
    await recv(ws)
    sim.inject_malformed(len(MALFORMED_KINDS))
    kinds = []
    for _ in MALFORMED_KINDS:
        sim.clock.advance(1_000)  # a new market second: one provisional push
        bad, good = await ws.receive_str(timeout=5), await ws.receive_str(timeout=5)
        kinds.append(_malformed_kind(bad))
        assert _malformed_kind(good) is None
    assert sorted(k for k in kinds if k) == sorted(MALFORMED_KINDS)
    assert sim.stats.malformed_sent == len(MALFORMED_KINDS) and sim.stats.pushes_lost == 0


async def test_malformed_frame_can_replace_a_push(sim: WooXSimulator, ws: WsClient) -> None:
    await command(ws, "SUBSCRIBE", TOPIC)
    await recv(ws)
    sim.inject_malformed(1, replace=True)
    sim.clock.advance(1_000)
    assert _malformed_kind(await ws.receive_str(timeout=5)) is not None
    sim.clock.advance(1_000)
    good = json.loads(await ws.receive_str(timeout=5))
    assert data_of(good)["ts"] == NOW + 2_000
    assert sim.stats.pushes_lost == 1


async def test_duplicated_pushes_arrive_twice(sim: WooXSimulator, ws: WsClient) -> None:
    await command(ws, "SUBSCRIBE", TOPIC)
    await recv(ws)
    sim.duplicate_pushes(2)
    sim.clock.advance(MINUTE)  # a final and a provisional push, each twice
    texts = [await ws.receive_str(timeout=5) for _ in range(4)]
    assert texts[0] == texts[1] and texts[2] == texts[3] and texts[0] != texts[2]
    sim.clock.advance(1_000)
    assert data_of(json.loads(await ws.receive_str(timeout=5)))["ts"] == NOW + MINUTE + 1_000
    assert sim.stats.duplicates_sent == 2


async def test_blast_sends_valid_pushes_stamped_with_send_time(
    sim: WooXSimulator, ws: WsClient
) -> None:
    topics = [TOPIC, "kline@PERP_BTC_USDT@1m", "kline@SPOT_ETH_USDT@1h"]
    await command(ws, "SUBSCRIBE", *topics)
    await recv_until(ws, lambda f: f.get("topic") == topics[-1])  # the regular first pushes
    reader = asyncio.ensure_future(_read_n(ws, 300))
    report = await sim.blast(300)
    frames = await reader
    assert (report.messages, report.connections) == (300, 1) and report.elapsed_s > 0
    assert {f["topic"] for f in frames} == set(topics)
    now_ms = time.time() * 1000
    for frame in frames:
        d = data_of(frame)
        assert now_ms - 10_000 < frame["ts"] == d["ts"] <= now_ms
        assert d["s"] in frame["topic"] and float(d["l"]) <= float(d["c"]) <= float(d["h"])
    sim.clock.advance(MINUTE)  # regular pushes resume afterwards, finals included
    final = (await recv_until(ws, lambda f: f["ts"] >= data_of(f)["et"]))[-1]
    assert data_of(final)["st"] == NOW // MINUTE * MINUTE


async def _read_n(ws: WsClient, n: int) -> list[Json]:
    return [await recv(ws) for _ in range(n)]


async def test_blast_can_be_paced(sim: WooXSimulator, ws: WsClient) -> None:
    await command(ws, "SUBSCRIBE", TOPIC)
    await recv(ws)
    reader = asyncio.ensure_future(_read_n(ws, 30))
    report = await sim.blast(30, rate=200)
    assert len(await reader) == 30
    assert report.elapsed_s >= 29 / 200
    with pytest.raises(ValueError, match="rate"):
        await sim.blast(1, rate=0)
