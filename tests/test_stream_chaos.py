"""Chaos: several hundred candles on 3 symbols x 2 timeframes through random drops, silences,
refused reconnects, 429/500 on the gap-filling REST calls, malformed and duplicate pushes.

The final candles must equal the exchange's history field for field, none missing, none doubled,
and every reconnect must have been reported. Randomness is seeded (``STREAM_CHAOS_SEED`` picks
another seed); the fault log is printed on failure so a run can be replayed."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

import pytest
from _stream_sim import assert_exact, finals, running, statuses

from host_stub.spec import CandleEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource.simulator import WooXSimulator
from woox_datasource.stream import LiveStream

SYMBOLS = ("SPOT_BTC_USDT", "PERP_ETH_USDT", "SPOT_WOO_USDT")
TIMEFRAMES = ((60, "1m"), (300, "5m"))
SEED = int(os.environ.get("STREAM_CHAOS_SEED", "20250611"))
CHAOS_S = 25.0


async def inflict(sim: WooXSimulator, rng: random.Random, log: list[str]) -> None:
    """One random fault, logged with its real-time offset."""
    kind = rng.choice(["drop", "silence", "refuse", "rest", "rest", "malformed", "duplicate"])
    if kind == "drop":
        await sim.drop_connections()
        log.append("drop")
    elif kind == "silence":
        seconds = rng.uniform(0.2, 1.6)  # below and above the 1 s silence timeout
        sim.go_silent(seconds)
        log.append(f"silence {seconds:.2f}")
    elif kind == "refuse":
        seconds = rng.uniform(0.1, 0.8)
        sim.refuse_connections(seconds)
        await sim.drop_connections()
        log.append(f"refuse {seconds:.2f} + drop")
    elif kind == "rest":
        n, status = rng.randint(1, 4), rng.choice([500, 429])
        sim.faults.fail_next(n, status)
        log.append(f"rest {n}x{status}")
    elif kind == "malformed":
        n, replace = rng.randint(1, 6), rng.random() < 0.5
        sim.inject_malformed(n, replace=replace)
        log.append(f"malformed {n} replace={replace}")
    else:
        n = rng.randint(1, 12)
        sim.duplicate_pushes(n)
        log.append(f"duplicate {n}")


async def consume(stream: LiveStream, into: list[StreamEvent]) -> None:
    async for event in stream:
        into.append(event)


@pytest.mark.slow
async def test_chaos_finals_equal_history_and_every_reconnect_is_reported() -> None:
    rng = random.Random(SEED)
    log: list[str] = []
    async with running({"speed": 1200.0, "rate_limit": 10}, seed=SEED) as h:
        streams = {
            (symbol, label): await h.manager.start(h.session, StreamConfig(symbol, interval))
            for symbol in SYMBOLS
            for interval, label in TIMEFRAMES
        }
        events: dict[tuple[str, str], list[StreamEvent]] = {key: [] for key in streams}
        consumers = [asyncio.create_task(consume(s, events[k])) for k, s in streams.items()]
        try:
            started = time.monotonic()
            while time.monotonic() - started < CHAOS_S:
                await asyncio.sleep(rng.uniform(0.3, 1.2))
                await inflict(h.sim, rng, log)
            h.sim.faults.clear()
            settled_at = h.sim.clock.now_ms() + 10 * 300_000  # ten 5m candles past the chaos

            def settled() -> bool:
                return all(
                    (f := finals(ev)) and f[-1].close_time >= settled_at for ev in events.values()
                )

            async with asyncio.timeout(30):
                while not settled():  # noqa: ASYNC110 - consumers run in their own tasks
                    await asyncio.sleep(0.05)
        except BaseException:
            print(f"chaos seed {SEED}; faults: {log}")
            raise
        finally:
            for stream in streams.values():
                await h.manager.stop(stream.id)
            await asyncio.gather(*consumers)

        stats = h.manager.stats
        report = f"seed {SEED}, faults {log}, stats {stats}"
        total = 0
        for (_, label), got in events.items():
            candles = finals(got)
            total += len(candles)
            assert not statuses(got, StatusKind.GAP_UNFILLABLE), report
            assert_exact(h.sim, candles, label)
            done: set[int] = set()
            for e in got:  # no provisional after its candle's final
                if isinstance(e, CandleEvent):
                    assert e.candle.open_time not in done, report
                    if e.final:
                        done.add(e.candle.open_time)
            links = (StatusKind.CONNECTED, StatusKind.RECONNECTING)
            health = [s.kind for s in statuses(got) if s.kind in links]
            assert health[0] is StatusKind.CONNECTED, report
            for a, b in itertools.pairwise(health):
                assert not (a is b is StatusKind.CONNECTED), f"unreported reconnect; {report}"
            lost = health.count(StatusKind.RECONNECTING)
            assert lost == stats.connections_lost + stats.connect_failures, report
        assert total >= 1500, report
        assert stats.connections_lost >= 5, report
        assert stats.fills >= 5, report
        assert stats.malformed >= 1 and stats.duplicates >= 1, report
        print(f"chaos: {total} finals over {len(events)} streams; {report}")
