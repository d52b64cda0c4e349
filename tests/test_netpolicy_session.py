"""The policed session against real loopback servers: hops, handshakes, proxies, middleware, DNS.

Every refusal test also asserts that the server behind the refused URL was never reached, so a
check that merely raised after connecting would fail here."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import pytest
from _netpolicy_sites import NameMap, Site, serve_many
from aiohttp.abc import ResolveResult
from yarl import URL

from host_stub.netpolicy import (
    NetworkPolicy,
    PolicyConnector,
    PolicyRefusal,
    PolicyResolver,
    address_kind,
    create_session,
    policy_request_class,
)
from host_stub.spec import NetworkNotAllowed

if TYPE_CHECKING:
    from aiohttp.tracing import Trace

PLUGIN = "testplug"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Site, Site]]:
    """Two servers on two ports: ``a`` is what policies admit, ``b`` what they refuse."""
    async with serve_many(2) as (a, b):
        yield a, b


def policy_for(a: Site, b: Site, *extra: str) -> NetworkPolicy:
    return NetworkPolicy.from_patterns(
        [f"http://127.0.0.1:{a.port}/*", f"ws://127.0.0.1:{a.port}/*", *extra], plugin=PLUGIN
    )


async def test_admitted_request_and_admitted_redirect_go_through(
    servers: tuple[Site, Site],
) -> None:
    a, b = servers
    session = create_session(policy_for(a, b), resolver=NameMap({}))
    async with session, session.get(f"{a.origin}/redirect?to=/ok") as response:
        assert response.status == 200
        assert await response.text() == "ok"
    assert a.hits == ["/redirect", "/ok"]


@pytest.mark.parametrize(
    ("target", "extra", "reason", "nearest"),
    [
        pytest.param(
            "http://sim.test:{a}/target",
            (),
            "host 'sim.test' is not '127.0.0.1'",
            "http://127.0.0.1:{a}/*",
            id="refused-host",
        ),
        pytest.param(
            "http://127.0.0.1:{b}/target",
            ("https://127.0.0.1:{b}/*",),
            "scheme 'http' is not 'https'",
            "https://127.0.0.1:{b}/*",
            id="downgraded-scheme",
        ),
        pytest.param(
            "http://127.0.0.1:{b}/target",
            (),
            "port {b} is not {a}",
            "http://127.0.0.1:{a}/*",
            id="other-port",
        ),
        pytest.param(
            "http://2130706433:{a}/target",
            (),
            "non-canonical IPv4",
            "http://127.0.0.1:{a}/*",
            id="numeric-ip",
        ),
        pytest.param(
            "http://u:p@127.0.0.1:{b}/target",
            (),
            "port {b} is not {a}",
            "http://127.0.0.1:{a}/*",
            id="userinfo-to-other-port",
        ),
        pytest.param(
            "http://u:p@127.0.0.1:{a}/target",
            (),
            "userinfo credentials",
            "http://127.0.0.1:{a}/*",
            id="userinfo-on-the-admitted-host",
        ),
    ],
)
async def test_every_redirect_hop_is_checked(
    servers: tuple[Site, Site], target: str, extra: tuple[str, ...], reason: str, nearest: str
) -> None:
    a, b = servers
    ports = {"a": a.port, "b": b.port}
    target = target.format(**ports)
    policy = policy_for(a, b, *(pattern.format(**ports) for pattern in extra))
    names = NameMap({"sim.test": "127.0.0.1"})
    async with create_session(policy, resolver=names) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            async with session.get(f"{a.origin}/redirect?to={quote(target)}"):
                pass
    refusal = raised.value
    assert type(refusal) is PolicyRefusal, "every refusal is a PolicyRefusal, never re-wrapped"
    assert refusal.plugin == PLUGIN
    assert URL(refusal.url).path == URL(target).path
    assert reason.format(**ports) in refusal.reason
    assert refusal.nearest == nearest.format(**ports)
    assert (
        PLUGIN in str(refusal) and refusal.url in str(refusal) and refusal.nearest in str(refusal)
    )
    assert a.hits == ["/redirect"]
    assert b.hits == []
    assert names.asked == []


async def test_websocket_handshakes_are_checked(servers: tuple[Site, Site]) -> None:
    a, b = servers
    async with create_session(policy_for(a, b), resolver=NameMap({})) as session:
        async with session.ws_connect(f"ws://127.0.0.1:{a.port}/ws") as ws:
            await ws.send_str("ping")
            message = await ws.receive(timeout=5)
            assert message.data == "ping"
        for refused in (f"ws://127.0.0.1:{b.port}/ws", f"wss://127.0.0.1:{a.port}/ws"):
            with pytest.raises(NetworkNotAllowed) as raised:
                async with session.ws_connect(refused):
                    pass
            assert raised.value.url == refused
            assert raised.value.nearest == f"ws://127.0.0.1:{a.port}/*"
    assert a.hits == ["/ws"]
    assert b.hits == []


async def test_a_proxy_is_refused_and_its_credentials_are_not_shown(
    servers: tuple[Site, Site],
) -> None:
    a, b = servers
    proxy = f"http://user:secret@127.0.0.1:{b.port}"
    async with create_session(policy_for(a, b), resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            async with session.get(f"{a.origin}/ok", proxy=proxy):
                pass
        assert f"proxy 'http://127.0.0.1:{b.port}'" in raised.value.reason
        assert "secret" not in str(raised.value)
        with pytest.raises(NetworkNotAllowed, match="proxy"):
            async with session.ws_connect(f"ws://127.0.0.1:{a.port}/ws", proxy=proxy):
                pass
    assert a.hits == []
    assert b.hits == []


async def test_environment_proxies_are_ignored(
    servers: tuple[Site, Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    for name in ("HTTP_PROXY", "http_proxy", "WS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, b.origin)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with create_session(policy_for(a, b), resolver=NameMap({})) as session:
        assert session.trust_env is False
        async with session.get(f"{a.origin}/direct") as response:
            assert response.status == 200
    assert a.hits == ["/direct"]
    assert b.hits == []


@pytest.mark.parametrize(
    ("url", "options", "reason"),
    [
        pytest.param("{b}/target", {"middlewares": ()}, "port", id="per-request-middlewares"),
        pytest.param("http://user:pw@{a_host}/ok", {}, "userinfo", id="userinfo-aiohttp-strips"),
        pytest.param("tcp://{a_host}/ok", {}, "unsupported scheme 'tcp'", id="tcp-scheme"),
    ],
)
async def test_first_urls_are_refused_whatever_aiohttp_would_do_with_them(
    servers: tuple[Site, Site], url: str, options: dict[str, Any], reason: str
) -> None:
    """A per-request ``middlewares=()`` skips session middleware, not the policy; aiohttp moves
    userinfo into a header before building the request, and its TCPConnector takes tcp://."""
    a, b = servers
    url = url.format(b=b.origin, a_host=f"127.0.0.1:{a.port}")
    async with create_session(policy_for(a, b), resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            async with session.get(url, **options):
                pass
    assert reason in raised.value.reason
    assert type(raised.value) is PolicyRefusal
    assert a.hits == []
    assert b.hits == []


async def test_a_middleware_that_rewrites_the_url_is_refused(
    servers: tuple[Site, Site],
) -> None:
    """The request was checked when it was built; it is sealed from then on."""
    a, b = servers

    async def reroute(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.url = URL(f"{b.origin}/target")
        return await handler(request)

    async with create_session(policy_for(a, b), resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            async with session.get(f"{a.origin}/ok", middlewares=(reroute,)):
                pass
    assert isinstance(raised.value, PolicyRefusal)
    assert raised.value.url == f"{b.origin}/target"
    assert "url cannot change after the policy checked it" in raised.value.reason
    assert a.connections == b.connections == 0


async def test_credentials_passed_as_auth_are_refused_like_userinfo(
    servers: tuple[Site, Site],
) -> None:
    """aiohttp turns ``user@`` into the same ``auth`` the deprecated ``auth=`` gives, so the
    request class refuses both, and points at the Authorization header instead."""
    a, _ = servers
    async with create_session(policy_for(a, a), resolver=NameMap({})) as session:
        with pytest.warns(DeprecationWarning, match="BasicAuth is deprecated"):
            credentials = aiohttp.BasicAuth("user", "secret")
        with (
            pytest.warns(DeprecationWarning, match="'auth' parameter is deprecated"),
            pytest.raises(NetworkNotAllowed, match=r"userinfo.*Authorization header"),
        ):
            await session.get(f"{a.origin}/ok", auth=credentials)
        async with session.get(f"{a.origin}/ok", headers={"Authorization": "Basic eDp5"}) as r:
            assert r.status == 200
    assert a.hits == ["/ok"]


async def test_a_pooled_connection_does_not_bypass_the_check(
    servers: tuple[Site, Site],
) -> None:
    a, _ = servers
    policy = NetworkPolicy.from_patterns([f"{a.origin}/ok"], plugin=PLUGIN)
    async with create_session(policy, resolver=NameMap({})) as session:
        async with session.get(f"{a.origin}/ok") as response:
            await response.read()
        with pytest.raises(NetworkNotAllowed, match="path '/admin' is outside '/ok'"):
            async with session.get(f"{a.origin}/admin"):
                pass
    assert a.hits == ["/ok"]


@pytest.mark.parametrize("via", ["get", "ws_connect"])
async def test_a_name_resolving_to_loopback_needs_a_pattern_naming_the_address(
    servers: tuple[Site, Site], via: str
) -> None:
    a, _ = servers
    scheme, path = ("http", "/ok") if via == "get" else ("ws", "/ws")
    url = f"{scheme}://sim.test:{a.port}{path}"
    names = NameMap({"sim.test": "127.0.0.1"})
    by_name = NetworkPolicy.from_patterns([f"{scheme}://sim.test:*/*"], plugin=PLUGIN)

    async with create_session(by_name, resolver=names) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            async with getattr(session, via)(url):
                pass
    refusal = raised.value
    assert isinstance(refusal, PolicyRefusal)
    assert (refusal.plugin, refusal.url) == (PLUGIN, url)
    assert "resolves to 127.0.0.1, a loopback address" in refusal.reason
    assert refusal.nearest == f"{scheme}://sim.test:*/*"
    assert names.asked == ["sim.test"]
    assert a.hits == []

    admitted = by_name.extended([f"{scheme}://127.0.0.1:{a.port}/*"])
    async with create_session(admitted, resolver=names) as session, getattr(session, via)(url):
        pass
    assert a.hits == [path]


class ForgedAnswers(PolicyConnector):
    """A connector whose addresses come from somewhere the resolver check never saw (aiohttp's
    DNS cache, or a code path a future aiohttp adds): the addresses a socket is opened to must be
    checked where it is opened."""

    def __init__(self, policy: NetworkPolicy, address: str, port: int) -> None:
        super().__init__(policy, resolver=NameMap({}))
        self.forged = (address, port)

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        address, answer_port = self.forged
        answer: ResolveResult = {
            "hostname": host,
            "host": address,
            "port": answer_port,
            "family": socket.AF_INET,
            "proto": 0,
            "flags": socket.AI_NUMERICHOST,
        }
        return [answer]


@pytest.mark.parametrize(
    ("url", "named", "forged", "reason"),
    [
        ("sim.test:{a}", "127.0.0.1:{a}", "127.0.0.1:{b}", "would connect to 127.0.0.1 port {b}"),
        ("sim.test:{a}", "", "127.0.0.1:{a}", "a loopback address, and no pattern names"),
        ("127.0.0.1:{a}", "", "127.0.0.2:{a}", "would connect to 127.0.0.2 instead"),
    ],
)
async def test_every_address_a_socket_opens_to_is_checked(
    servers: tuple[Site, Site], url: str, named: str, forged: str, reason: str
) -> None:
    a, b = servers
    ports = {"a": a.port, "b": b.port}
    patterns = ["http://sim.test:*/*", "http://127.0.0.1:*/*" if url[0] == "1" else ""]
    if named:
        patterns.append(f"http://{named.format(**ports)}/*")
    policy = NetworkPolicy.from_patterns([p for p in patterns if p], plugin=PLUGIN)
    address, port = forged.format(**ports).split(":")
    connector = ForgedAnswers(policy, address, int(port))
    session = aiohttp.ClientSession(connector=connector, request_class=policy_request_class(policy))
    async with session:
        with pytest.raises(NetworkNotAllowed) as raised:
            await session.get(f"http://{url.format(**ports)}/ok")
    assert type(raised.value) is PolicyRefusal
    assert reason.format(**ports) in raised.value.reason
    assert a.connections == b.connections == 0


async def test_the_address_must_be_named_for_the_port_in_use(
    servers: tuple[Site, Site],
) -> None:
    a, b = servers
    names = NameMap({"sim.test": "127.0.0.1"})
    policy = NetworkPolicy.from_patterns(
        ["http://sim.test:*/*", f"http://127.0.0.1:{b.port}/*"], plugin=PLUGIN
    )
    async with create_session(policy, resolver=names) as session:
        with pytest.raises(NetworkNotAllowed, match="no pattern names that address"):
            async with session.get(f"http://sim.test:{a.port}/ok"):
                pass
        async with session.get(f"http://sim.test:{b.port}/ok") as response:
            assert response.status == 200
    assert a.hits == []
    assert b.hits == ["/ok"]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-global address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("fd00::1", "a private address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::a00:1", "a private address"),
        ("2002:a00:1::", "a private address"),
        ("sim.test", "not an IP address"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


async def test_the_resolver_passes_public_answers_and_refuses_private_ones() -> None:
    names = NameMap({"public.test": "8.8.8.8", "intranet.test": "10.0.0.7", "lo.test": "::1"})
    policy = NetworkPolicy.from_patterns(["https://api.woox.io/*", "http://[::1]:8080/*"])
    resolver = PolicyResolver(policy, names, owns_inner=False)
    assert [r["host"] for r in await resolver.resolve("public.test", 443)] == ["8.8.8.8"]
    with pytest.raises(NetworkNotAllowed, match=r"10\.0\.0\.7, a private address"):
        await resolver.resolve("intranet.test", 443)
    with pytest.raises(NetworkNotAllowed, match="a loopback address"):
        await resolver.resolve("lo.test", 443)
    assert [r["host"] for r in await resolver.resolve("lo.test", 8080)] == ["::1"]
    await resolver.close()


async def test_why_refusals_are_also_client_errors(
    servers: tuple[Site, Site],
) -> None:
    """aiohttp wraps an OSError (NetworkNotAllowed is a PermissionError) raised in a connector (or
    a middleware) as ClientOSError, and one raised in a resolver as ClientConnectorDNSError. If
    this test starts failing, aiohttp stopped wrapping, and PolicyRefusal need no longer be a
    ClientError."""
    a, _ = servers

    class Refusing(aiohttp.TCPConnector):
        async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109
            raise NetworkNotAllowed(PLUGIN, str(req.url), "plain refusal")

    class RefusingResolver(NameMap):
        async def resolve(self, *args: Any, **kwargs: Any) -> list[ResolveResult]:
            raise NetworkNotAllowed(PLUGIN, "sim.test", "plain refusal")

    async with aiohttp.ClientSession(connector=Refusing()) as session:
        with pytest.raises(aiohttp.ClientOSError) as wrapped:
            async with session.get(f"{a.origin}/ok"):
                pass
    assert not isinstance(wrapped.value, NetworkNotAllowed)
    assert isinstance(wrapped.value.__cause__, NetworkNotAllowed)

    connector = aiohttp.TCPConnector(resolver=RefusingResolver({}))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as dns_wrapped:
            async with session.get(f"http://sim.test:{a.port}/ok"):
                pass
    assert not isinstance(dns_wrapped.value, NetworkNotAllowed)
    assert isinstance(dns_wrapped.value.os_error, NetworkNotAllowed)
    assert a.hits == []


class ClosableNames(NameMap):
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_the_session_closes_only_the_resolver_it_owns() -> None:
    policy = NetworkPolicy.from_patterns(["https://api.woox.io/*"])
    callers = ClosableNames({})
    session = create_session(policy, resolver=callers, timeout=aiohttp.ClientTimeout(total=3))
    assert session.timeout.total == 3
    await session.close()
    assert session.closed
    assert not callers.closed, "the caller's resolver is the caller's to close"
    owned = ClosableNames({})
    await PolicyResolver(policy, owned, owns_inner=True).close()
    assert owned.closed


def test_create_session_needs_a_running_loop() -> None:
    policy = NetworkPolicy.from_patterns(["https://api.woox.io/*"])
    with pytest.raises(RuntimeError, match="running event loop"):
        create_session(policy)
