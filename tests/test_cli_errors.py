"""Every failure of ``woox-host`` is one line on stderr with the right exit code: 2 for bad
input, 1 for the exchange, the network or the disk; what can heal is retried, out loud."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import aiohttp.abc
import pytest
from _cli_helpers import free_port, one_line, simulator, woox_host

from host_stub.spec import ExchangeError
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.simulator import WooXSimulator

HISTORY = ["history", "SPOT_BTC_USDT", "1h", "--start", "-1d"]


def dead_server() -> list[str]:
    port = free_port()
    rest, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/"
    return ["--rest-url", rest, "--ws-url", ws, "--allow", f"{rest}/*", "--allow", f"{ws}*"]


async def test_a_dead_server_fails_at_once_naming_the_full_url_once() -> None:
    options = dead_server()
    ran = await woox_host(*HISTORY, *options, within=30)
    assert ran.code == 1
    line = one_line(ran)  # no retry chatter: a refused connection cannot heal by itself
    url = f"{options[1]}/v3/public/klineHistory?symbol=SPOT_BTC_USDT&type=1h"
    assert line.startswith(f"woox-host: ExchangeError: GET {url}")
    assert line.count("http://") == 1 and "Connect call failed" in line


async def test_what_can_heal_is_retried_out_loud_and_the_error_is_said_once() -> None:
    async with WooXSimulator() as sim:
        sim.faults.fail_next(100, kind="gateway")  # HTTP 200 {"code":503,...}, WOO X's gateway
        ran = await woox_host(*HISTORY, *simulator(sim), within=60)
        assert ran.code == 1
        assert "Traceback" not in ran.err
        *retries, final = ran.err_lines
        assert [r.split("retrying ")[1] for r in retries] == [
            f"(attempt {n} of 7)" for n in range(2, 8)
        ]
        assert all(r.startswith("woox-host: GET /v3/public/klineHistory: WOO X gateway error")
                   for r in retries)  # fmt: skip
        assert final.startswith(f"woox-host: ExchangeError: GET {sim.rest_url}/v3/public/kline")
        assert "failed after 7 attempts; last error: WOO X gateway error: [GW] no upstream" in final
        assert (final.count("http://"), final.count("code 503"), final.count("HTTP 200")) == (
            1,
            1,
            1,
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "SPOT_BTC_USDT,SPOT_ETH_USDT", "1h", "--start", "-1d"], "one symbol per"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "1704067200"], "1704067200000"),
        (["history", "SPOT_BTC_USDT", "1h", "--start", "-1x"], "one of s (seconds)"),
        (["history", "SPOT_BTC_USDT", "1h"], "--start --last is required"),
        (["stream", "SPOT_BTC_USDT", "1m", "--backfill", "2999-01-01"], "is in the future"),
        (["--rest-url", "garbage", "--ws-url", "ws://127.0.0.1:1/", *HISTORY], "not a usable URL"),
    ],
)
async def test_bad_input_from_a_real_shell_is_one_line_exit_2(
    argv: list[str], message: str
) -> None:
    ran = await woox_host(*argv, within=30)
    assert ran.code == 2
    line = one_line(ran)
    assert line.startswith("woox-host: error: ") and message in line


async def test_stdout_on_a_full_disk_is_one_line_exit_1() -> None:
    async with WooXSimulator() as sim:
        with open("/dev/full", "w") as full:  # noqa: ASYNC230 - a device, opening never blocks
            ran = await woox_host("markets", *simulator(sim), stdout=full, within=30)
        assert ran.code == 1
        assert one_line(ran) == "woox-host: cannot write the output: No space left on device"


async def test_out_to_a_full_disk_is_one_line_exit_1() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host(*HISTORY, "--out", "/dev/full", *simulator(sim), within=30)
        assert ran.code == 1
        assert one_line(ran) == "woox-host: cannot write '/dev/full': No space left on device"


async def test_an_out_path_in_a_missing_directory_is_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.csv"
    ran = await woox_host(*HISTORY, "--out", str(target), within=30)
    assert ran.code == 2
    assert one_line(ran) == (
        f"woox-host: error: cannot write --out {str(target)!r}: No such file or directory"
    )


class NoSuchName(aiohttp.abc.AbstractResolver):
    """A resolver for which no name exists: DNS failure without touching any network."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        self.calls += 1
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    resolver = NoSuchName()
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = RestClient(session, "http://exchange.invalid", budget=RateBudget(1000, 1.0, 0.0))
        with pytest.raises(ExchangeError) as info:
            await client.list_markets()
    assert str(info.value).startswith(
        "GET http://exchange.invalid/v3/public/instruments failed: ClientConnectorDNSError"
    )
    assert resolver.calls == 1 and client.requests_sent == 1
