"""Loopback web servers for the network policy tests, and a resolver with a fixed table.

A :class:`Site` counts the TCP connections it accepts (not only the requests it answers), so a
test can show that a refused destination saw no socket at all, and records the request target of
every request exactly as it arrived (``raw``), dot-segments and escapes included.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


@attrs.define
class Site:
    """One loopback server: ``hits`` holds each request's decoded path, ``raw`` its target as
    sent, ``hosts`` its Host header, ``connections`` the sockets it accepted."""

    port: int
    hits: list[str] = attrs.Factory(list)
    raw: list[str] = attrs.Factory(list)
    hosts: list[str] = attrs.Factory(list)
    connections: int = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


async def _redirect(request: web.Request) -> web.Response:
    # Location exactly as given: web.HTTPFound would normalise it (and resolve dot-segments).
    return web.Response(status=302, headers={"Location": request.query["to"]})


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


@asynccontextmanager
async def serve() -> AsyncIterator[Site]:
    """A site on 127.0.0.1 with ``/redirect?to=URL``, a WebSocket echo at ``/ws``, ``/hold`` (a
    response that starts and never ends, so the client's connection stays busy) and 200 ``ok``
    for every other path."""
    site = Site(0)
    closing = asyncio.Event()

    async def hold(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"held")
        await closing.wait()
        return response

    @web.middleware
    async def record(request: web.Request, handler: Any) -> Any:
        site.hits.append(request.path)
        site.raw.append(request.raw_path)
        site.hosts.append(request.headers.get("Host", ""))
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/ws", _echo)
    app.router.add_get("/hold", hold)
    app.router.add_get("/{tail:.*}", _ok)
    runner = web.AppRunner(app)
    await runner.setup()
    handler = runner.server
    assert handler is not None

    def accept() -> asyncio.Protocol:
        site.connections += 1
        return handler()

    server = await asyncio.get_running_loop().create_server(accept, "127.0.0.1", 0)
    site.port = server.sockets[0].getsockname()[1]
    try:
        yield site
    finally:
        closing.set()
        server.close()
        await runner.cleanup()
        await server.wait_closed()


@asynccontextmanager
async def serve_many(count: int) -> AsyncIterator[list[Site]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(serve()) for _ in range(count)]


class NameMap(AbstractResolver):
    """A resolver with a fixed table (name -> address, or (address, port) to answer with another
    port than asked), so no test depends on (or leaks to) real DNS."""

    def __init__(self, names: dict[str, str | tuple[str, int]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError(f"test resolver knows no {host!r}")
        entry = self.names[host]
        address, answer_port = entry if isinstance(entry, tuple) else (entry, port)
        result: ResolveResult = {
            "hostname": host,
            "host": address,
            "port": answer_port,
            "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
            "proto": 0,
            "flags": socket.AI_NUMERICHOST,
        }
        return [result]

    async def close(self) -> None:
        pass
