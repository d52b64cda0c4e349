"""Running ``woox-host`` as a user does: a real process, its stdout and stderr, its exit code."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

import attrs

from woox_datasource.simulator import WooXSimulator

HOUR_MS = 3_600_000
_SLOW_CALLBACK = re.compile(r"(woox-host: )?Executing <.*> took [\d.]+ seconds")
"""asyncio debug mode (on in tests) reports slow callbacks on a busy machine; not our output."""


def _stderr(raw: bytes) -> str:
    lines = raw.decode().splitlines(keepends=True)
    return "".join(line for line in lines if not _SLOW_CALLBACK.fullmatch(line.rstrip("\n")))


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def command(*argv: str) -> list[str]:
    return [sys.executable, "-X", "dev", "-m", "host_stub", *argv]


async def woox_host(
    *argv: str,
    stdout: int | IO[Any] = asyncio.subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    within: float = 60.0,
) -> Ran:
    """Run ``woox-host argv`` to completion (failing the test if it takes over ``within``
    seconds: a bound that proves "not stuck", not a timing goal)."""
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command(*argv),
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    text = out.decode() if out is not None else ""
    return Ran(process.returncode, text, _stderr(err), time.monotonic() - began)


async def interrupt_when(
    argv: list[str], ready: Callable[[], bool], *, within: float = 30.0
) -> tuple[Ran, float]:
    """Start ``woox-host argv``, send SIGINT (Ctrl-C) once ``ready()`` holds, and return what it
    did and how long it took to exit after the signal."""
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command(*argv), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + within
        while not ready():
            assert process.returncode is None, "woox-host ended before it was interrupted"
            assert time.monotonic() < deadline, "woox-host never got ready to be interrupted"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        out, err = await asyncio.wait_for(process.communicate(), timeout=within)
        after = time.monotonic() - signalled
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    ran = Ran(process.returncode, out.decode(), _stderr(err), time.monotonic() - began)
    return ran, after


async def interrupt_once_said(argv: list[str], said: str, *, within: float = 60.0) -> Ran:
    """Start ``woox-host argv`` and send SIGINT (Ctrl-C) once a line of its stderr contains
    ``said``: a run ended by what it reported, not by a delay that a loaded machine can
    outlast. Fails the test if it ends first or is not done within ``within`` seconds."""
    return await interrupt_once_written(argv, lambda _: True, said=said, within=within)


async def interrupt_once_written(
    argv: list[str],
    enough: Callable[[list[str]], bool],
    *,
    said: str = "",
    within: float = 60.0,
) -> Ran:
    """Start ``woox-host argv`` and send SIGINT (Ctrl-C) once ``enough(lines)`` holds for the
    lines of stdout written so far (checked whenever a line came) and stderr has ``said`` so: a
    live run ended by what it wrote, not by a delay. Fails the test if it ends first or is not
    done within ``within`` seconds."""
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command(*argv), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    err: list[str] = []
    came = asyncio.Event()

    async def read(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode())
            came.set()
        came.set()

    readers = [asyncio.create_task(read(process.stdout, lines)),
               asyncio.create_task(read(process.stderr, err))]  # fmt: skip
    try:
        async with asyncio.timeout(within):
            while True:
                came.clear()
                if enough(lines) and said in "".join(err):
                    break
                assert not all(r.done() for r in readers), (
                    f"woox-host ended before it wrote enough: {lines[-3:]}, {err[-3:]}"
                )
                await came.wait()
            process.send_signal(signal.SIGINT)
            await asyncio.gather(*readers)
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    assert process.returncode is not None
    ran = "".join(lines), _stderr("".join(err).encode())
    return Ran(process.returncode, *ran, time.monotonic() - began)


def simulator(sim: WooXSimulator) -> list[str]:
    return ["--simulator", sim.rest_url]


def hour_floor(ms: int) -> int:
    return ms // HOUR_MS * HOUR_MS


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def one_line(ran: Ran) -> str:
    """The single stderr line of a failed run (fails the test if there is more, or a
    traceback)."""
    assert "Traceback" not in ran.err, ran.err
    assert len(ran.err_lines) == 1, ran.err
    return ran.err_lines[0]
