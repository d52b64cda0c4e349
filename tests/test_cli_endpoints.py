"""Where ``woox-host`` connects: never two exchanges mixed, ``--simulator`` for the simulator,
and URLs the host cannot use refused on one line (exit 2) with suggestions that work."""

from __future__ import annotations

import pytest
from _cli_helpers import one_line, simulator, woox_host

from host_stub.endpoints import SIMULATOR_WS_PATH, EndpointError, resolve
from woox_datasource.simulator import WooXSimulator
from woox_datasource.simulator.rest import WS_PATH

HISTORY = ["history", "SPOT_BTC_USDT", "1h", "--start", "-1d"]
LOOPBACK = ["--allow", "http://127.0.0.1:*/*", "--allow", "ws://127.0.0.1:*/*"]


def test_the_derived_websocket_path_is_the_simulators() -> None:
    assert SIMULATOR_WS_PATH == WS_PATH
    for given in ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/v3/public", "http://[::1]:8765/"):
        endpoints = resolve(environment="production", rest_url=None, ws_url=None, simulator=given)
        origin = given.split("://")[1].split("/")[0]
        assert (endpoints.rest_url, endpoints.ws_url) == (
            f"http://{origin}",
            f"ws://{origin}{WS_PATH}",
        )
        assert endpoints.allow == (f"http://{origin}/*", f"ws://{origin}/*")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rest-url", "http://127.0.0.1:8765"], "--rest-url needs --ws-url too"),
        (["--ws-url", "ws://127.0.0.1:8765/v3/public"], "--ws-url needs --rest-url too"),
        (
            ["--simulator", "http://127.0.0.1:8765", "--rest-url", "http://127.0.0.1:1"],
            "--simulator sets both URLs; drop --rest-url",
        ),
        (["--simulator", "http://127.0.0.1:8765", "--env", "staging"], "alternatives"),
        (["--simulator", "http://example.com:8765"], "serves this machine only"),
        (["--simulator", "https://127.0.0.1:8765"], "must be a http or ws URL"),
        (["--rest-url", "garbage", "--ws-url", "ws://127.0.0.1:1/"], "'garbage' is not a usable"),
        (["--rest-url", "http://127.0.0.1:1", "--ws-url", "http://127.0.0.1:1"], "ws or wss URL"),
        (
            ["--rest-url", "http://127.0.0.1:99999", "--ws-url", "ws://127.0.0.1:1/"],
            "port 99999 is out of range 1-65535",
        ),
        (["--simulator", "http://127.0.0.1:99999"], "port 99999 is out of range"),
    ],
)
async def test_endpoint_options_that_cannot_work_are_one_line_exit_2(
    options: list[str], message: str
) -> None:
    ran = await woox_host(*HISTORY, *options, *LOOPBACK, within=30)
    assert ran.code == 2, ran.err
    line = one_line(ran)
    assert line.startswith("woox-host: error: ") and message in line
    assert "--allow '" not in line  # no suggestion that the policy would then reject


def test_a_mixed_pair_is_refused_in_the_library_too() -> None:
    with pytest.raises(EndpointError, match="two different exchanges"):
        resolve(environment="production", rest_url="http://127.0.0.1:1", ws_url=None,
                simulator=None)  # fmt: skip


async def test_the_simulator_option_serves_history_and_stream_from_one_server() -> None:
    async with WooXSimulator(speed=60.0) as sim:
        history = await woox_host(*HISTORY, "--format", "csv", *simulator(sim))
        assert history.code == 0, history.err
        assert len(history.out.splitlines()) - 1 in (23, 24)  # closed hours of the last day
        stream = await woox_host("stream", "SPOT_BTC_USDT", "1m", "--finals-only", "--for", "3",
                                 "--format", "jsonl", *simulator(sim))  # fmt: skip
        assert stream.code == 0, stream.err
        assert '"type":"candle"' in stream.out
        assert sim.connections_opened >= 1  # the stream came from the same server
        assert all(r.path.startswith("/v3/public/") for r in sim.requests)
