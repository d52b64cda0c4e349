"""Attacks on the policed session, using nothing but its public API (aiohttp 3.14).

Each test plays a plugin trying to reach a destination its policy refuses: by changing a request
between the check and the connection, by building a session of its own around the handed
connector, by clearing ``session.trace_configs``, by sending a raw path with dot-segments, by
handing the policy a lying ``str``, by naming another site in ``Host`` or the TLS name. The
forbidden destination is a real loopback server that counts the sockets it accepts: it must see
none. And whatever the attack, the refusal reaches the caller as a ``PolicyRefusal`` (a
``NetworkNotAllowed`` that is also an ``aiohttp.ClientError``), never re-wrapped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from _netpolicy_sites import NameMap, Site, serve_many
from yarl import URL

from host_stub.netpolicy import (
    NetworkPolicy,
    PolicyRefusal,
    create_session,
)
from host_stub.spec import NetworkNotAllowed
from woox_datasource.rest.budget import RateBudget
from woox_datasource.rest.client import RestClient

PLUGIN = "attacker"
Change = Callable[[aiohttp.ClientRequest, Site], None]


@pytest.fixture
async def sites() -> AsyncIterator[tuple[Site, Site]]:
    """``good`` is what the policy admits; ``bad`` is forbidden and must never see a socket."""
    async with serve_many(2) as (good, bad):
        yield good, bad


def policy_for(good: Site, *extra: str) -> NetworkPolicy:
    return NetworkPolicy.from_patterns(
        [f"http://127.0.0.1:{good.port}/*", f"ws://127.0.0.1:{good.port}/*", *extra],
        plugin=PLUGIN,
    )


def assert_policy_refusal(exc: BaseException) -> PolicyRefusal:
    """The one shape every refusal has, wherever it was raised."""
    assert type(exc) is PolicyRefusal, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, NetworkNotAllowed)
    assert isinstance(exc, aiohttp.ClientError)
    assert not isinstance(exc, aiohttp.ClientConnectionError), "retry code retries those"
    assert exc.plugin == PLUGIN
    return exc


def holding(held: list[aiohttp.ClientRequest]) -> aiohttp.ClientMiddlewareType:
    """A per-request middleware that keeps a reference to the request it passes on."""

    async def keep(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        held.append(request)
        return await handler(request)

    return keep


def changing_trace(
    signal: str,
    held: list[aiohttp.ClientRequest],
    change: Change,
    bad: Site,
    fired: asyncio.Event | None = None,
) -> aiohttp.TraceConfig:
    """A trace config whose ``signal`` callback changes the held request: it runs while the
    connector awaits, after the request was checked. ``fired`` is set when it tries."""

    async def on_signal(
        session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
    ) -> None:
        while held:
            if fired is not None:
                fired.set()
            change(held.pop(), bad)

    trace = aiohttp.TraceConfig()
    getattr(trace, signal).append(on_signal)
    trace.freeze()
    return trace


def to_bad_url(request: aiohttp.ClientRequest, bad: Site) -> None:
    request.url = URL(f"{bad.origin}/stolen")


def to_bad_proxy(request: aiohttp.ClientRequest, bad: Site) -> None:
    request.proxy = URL(bad.origin)


def to_bad_proxy_by_method(request: aiohttp.ClientRequest, bad: Site) -> None:
    request.update_proxy(URL(bad.origin), None, None)


def to_bad_url_past_the_seal(request: aiohttp.ClientRequest, bad: Site) -> None:
    vars(request)["url"] = URL(f"{bad.origin}/stolen")  # no __setattr__: the connector's turn


CHANGES = [
    pytest.param(to_bad_url, "cannot change after the policy checked it", id="url"),
    pytest.param(to_bad_proxy, "cannot change after the policy checked it", id="proxy"),
    pytest.param(
        to_bad_proxy_by_method, "cannot change after the policy checked it", id="update_proxy"
    ),
    pytest.param(to_bad_url_past_the_seal, "destination changed", id="url-past-the-seal"),
]


# -- time of check to time of use ----------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), CHANGES)
@pytest.mark.parametrize("moment", ["connection_create_start", "connection_queued_start"])
async def test_a_request_cannot_be_pointed_elsewhere_while_the_connector_awaits(
    sites: tuple[Site, Site], change: Change, reason: str, moment: str
) -> None:
    """A middleware holds the request; a callback appended to ``session.trace_configs`` changes
    it while the connector awaits a new socket or a free slot in the pool (``limit=1``)."""
    good, bad = sites
    held: list[aiohttp.ClientRequest] = []
    fired = asyncio.Event()
    async with create_session(policy_for(good), resolver=NameMap({}), limit=1) as session:
        session.trace_configs.append(changing_trace(f"on_{moment}", held, change, bad, fired))
        occupant = None
        if moment == "connection_queued_start":
            occupant = await session.get(f"{good.origin}/hold")  # the only slot stays busy
        attempt = asyncio.ensure_future(
            session.get(f"{good.origin}/ok", middlewares=(holding(held),))
        )
        async with asyncio.timeout(5):
            await fired.wait()
        if occupant is not None:
            occupant.close()  # frees the slot, and no socket goes back to the pool
        with pytest.raises(NetworkNotAllowed) as raised:
            await attempt
        refusal = assert_policy_refusal(raised.value)
        assert reason in refusal.reason
        async with session.get(f"{good.origin}/after") as response:
            assert await response.text() == "ok"
    assert bad.connections == 0
    assert good.hits[-1] == "/after"
    assert good.hits.count("/ok") == 0


def to_admin_path(request: aiohttp.ClientRequest, bad: Site) -> None:
    request.url = request.url.with_path("/admin")


@pytest.mark.parametrize(
    ("signal", "change", "reason"),
    [
        pytest.param("on_connection_create_start", to_bad_url, "before a socket", id="url"),
        pytest.param("on_connection_create_start", to_bad_proxy, "before a socket", id="proxy"),
        pytest.param(
            "on_connection_create_end", to_admin_path, "path '/admin' is outside", id="path"
        ),
    ],
)
async def test_a_session_built_around_the_handed_connector_is_still_policed(
    sites: tuple[Site, Site], signal: str, change: Change, reason: str
) -> None:
    """``session.connector`` is public: a plugin can wrap it in an ``aiohttp.ClientSession`` of
    its own, whose plain requests are not sealed. The connector checks on its own, when a socket
    opens and when it hands the connection out, and files the socket only under the key it
    checked: later requests to the admitted URL reach the admitted server."""
    good, bad = sites
    held: list[aiohttp.ClientRequest] = []
    policy = NetworkPolicy.from_patterns([f"{good.origin}/ok*"], plugin=PLUGIN)
    async with create_session(policy, resolver=NameMap({})) as handed:
        trace = changing_trace(signal, held, change, bad)
        own = aiohttp.ClientSession(
            connector=handed.connector, connector_owner=False, trace_configs=[trace]
        )
        async with own:
            with pytest.raises(NetworkNotAllowed) as raised:
                await own.get(f"{good.origin}/ok", middlewares=(holding(held),))
            assert reason in assert_policy_refusal(raised.value).reason
            with pytest.raises(NetworkNotAllowed):
                await own.get(f"{bad.origin}/ok")
            for session in (own, handed):
                async with session.get(f"{good.origin}/ok-again") as response:
                    assert await response.text() == "ok"
    assert bad.connections == 0
    assert "/admin" not in good.hits
    assert good.hits == ["/ok-again", "/ok-again"]


async def test_a_connection_asked_of_the_connector_directly_is_checked(
    sites: tuple[Site, Site],
) -> None:
    good, bad = sites
    async with create_session(policy_for(good), resolver=NameMap({})) as session:
        assert session.connector is not None
        loop = asyncio.get_running_loop()
        own = aiohttp.ClientRequest("GET", URL(f"{bad.origin}/x"), loop=loop)
        with pytest.raises(NetworkNotAllowed) as raised:
            await session.connector.connect(own, [], aiohttp.ClientTimeout(total=5))
        assert_policy_refusal(raised.value)
        own.proxy = URL(bad.origin)  # an unsealed request, on its way to the admitted host
        own.url = URL(f"{good.origin}/x")
        with pytest.raises(NetworkNotAllowed, match="proxy"):
            await session.connector.connect(own, [], aiohttp.ClientTimeout(total=5))
    assert bad.connections == good.connections == 0


async def test_environment_proxies_do_not_reach_a_session_built_around_the_connector(
    sites: tuple[Site, Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = sites
    monkeypatch.setenv("HTTP_PROXY", bad.origin)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with create_session(policy_for(good), resolver=NameMap({})) as handed:
        own = aiohttp.ClientSession(
            connector=handed.connector, connector_owner=False, trust_env=True
        )
        async with own:
            with pytest.raises(NetworkNotAllowed, match="proxy") as raised:
                await own.get(f"{good.origin}/ok")
            assert_policy_refusal(raised.value)
    assert bad.connections == good.connections == 0


# -- nothing on the session removes a check --------------------------------------------------------


ATTEMPTS: dict[str, Callable[[aiohttp.ClientSession, Site, Site], Awaitable[object]]] = {
    "userinfo": lambda s, good, bad: s.get(f"http://user:pw@{good.host}/ok"),
    "other-port": lambda s, good, bad: s.get(f"{bad.origin}/ok"),
    "proxy": lambda s, good, bad: s.get(f"{good.origin}/ok", proxy=bad.origin),
    "host-header": lambda s, good, bad: s.get(f"{good.origin}/ok", headers={"Host": bad.host}),
    "dot-segment": lambda s, good, bad: s.get(URL(f"{good.origin}/a/../ok", encoded=True)),
}


@pytest.mark.parametrize("attempt", ATTEMPTS)
async def test_clearing_the_trace_configs_removes_no_check(
    sites: tuple[Site, Site], attempt: str
) -> None:
    good, bad = sites
    async with create_session(policy_for(good), resolver=NameMap({})) as session:
        session.trace_configs.clear()
        with pytest.raises(NetworkNotAllowed) as raised:
            await ATTEMPTS[attempt](session, good, bad)
        assert_policy_refusal(raised.value)
    assert good.connections == bad.connections == 0


# -- raw paths with dot-segments -----------------------------------------------------------------

DOTS = ["..", "%2e%2e", "%2E%2E", "%2e%2E", ".%2e", "%2E.", "."]


def _plain(site: Site, raw: str) -> URL:
    return URL(f"{site.origin}{raw}", encoded=True)


def _built(site: Site, raw: str) -> URL:
    return URL.build(scheme="http", host="127.0.0.1", port=site.port, path=raw, encoded=True)


def _joined(site: Site, raw: str) -> URL:
    return URL(site.origin).with_path(raw, encoded=True)


@pytest.mark.parametrize("dots", DOTS)
@pytest.mark.parametrize("build", [_plain, _built, _joined])
async def test_an_encoded_path_with_dot_segments_is_refused(
    sites: tuple[Site, Site], dots: str, build: Callable[[Site, str], URL]
) -> None:
    """``/admin/../public/x`` resolves into ``/public/*`` but goes on the wire as written, and a
    server that routes the raw path serves ``/admin``."""
    good, _ = sites
    policy = NetworkPolicy.from_patterns(
        [f"{good.origin}/public/*", f"ws://{good.host}/public/*"], plugin=PLUGIN
    )
    raw = f"/admin/{dots}/public/x" if dots != "." else "/public/./x"
    async with create_session(policy, resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            await session.get(build(good, raw))
        assert "dot-segment" in assert_policy_refusal(raised.value).reason
        ws_url = URL(f"ws://{good.host}{raw}", encoded=True)
        with pytest.raises(NetworkNotAllowed, match="dot-segment"):
            await session.ws_connect(ws_url)
    assert good.connections == 0


@pytest.mark.parametrize(
    ("absolute", "dots"),
    [(True, dots) for dots in DOTS] + [(False, dots) for dots in DOTS if "%" in dots],
)
async def test_a_redirect_sent_unrequoted_with_dot_segments_is_refused(
    sites: tuple[Site, Site], absolute: bool, dots: str
) -> None:
    """With ``requote_redirect_url = False`` aiohttp keeps the Location as sent. (A relative one
    is joined to the current URL, which resolves literal dots but not escaped ones.)"""
    good, _ = sites
    policy = NetworkPolicy.from_patterns(
        [f"{good.origin}/public/*", f"{good.origin}/redirect"], plugin=PLUGIN
    )
    location = f"/admin/{dots}/public/x" if dots != "." else "/public/./x"
    if absolute:
        location = good.origin + location
    async with create_session(policy, resolver=NameMap({})) as session:
        with pytest.warns(DeprecationWarning, match="requote_redirect_url"):
            session.requote_redirect_url = False
        with pytest.raises(NetworkNotAllowed) as raised:
            await session.get(f"{good.origin}/redirect?to={quote(location, safe='')}")
        assert "dot-segment" in assert_policy_refusal(raised.value).reason
    assert good.hits == ["/redirect"]


# -- the policy reads plain str or yarl.URL only ------------------------------------------------


class Lying(str):
    """Characters that name the admitted URL, and a ``__str__`` that names another."""

    forged = ""

    def __str__(self) -> str:
        return self.forged


async def test_a_str_subclass_is_refused_not_read(sites: tuple[Site, Site]) -> None:
    good, bad = sites
    lying = Lying(f"{good.origin}/ok")
    lying.forged = f"{bad.origin}/ok"
    policy = policy_for(good)
    with pytest.raises(TypeError, match="str subclass Lying"):
        policy.check(lying)  # every other reader too: see test_netpolicy_match
    assert policy.allows(str.__str__(lying)), "the same characters as a plain str are admitted"
    assert policy.allows(URL(f"{good.origin}/ok"))
    async with create_session(policy, resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed) as raised:
            await session.get(lying)  # aiohttp reads it through __str__
        assert_policy_refusal(raised.value)
    assert bad.connections == good.connections == 0


# -- every refusal is typed, wherever it is raised ----------------------------------------------


MiddlewareAct = Callable[
    [aiohttp.ClientRequest, aiohttp.ClientHandlerType, Site], Awaitable[aiohttp.ClientResponse]
]


def in_middleware(act: MiddlewareAct) -> Callable[[aiohttp.ClientSession, Site, Site], Any]:
    """A request to the admitted site whose per-request middleware does ``act``."""

    async def attempt(session: aiohttp.ClientSession, good: Site, bad: Site) -> None:
        async def middleware(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            return await act(request, handler, bad)

        await session.get(f"{good.origin}/ok", middlewares=(middleware,))

    return attempt


async def _fetch_elsewhere(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType, bad: Site
) -> aiohttp.ClientResponse:
    async with request.session.get(f"{bad.origin}/x"):
        pass
    return await handler(request)


async def _reroute(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType, bad: Site
) -> aiohttp.ClientResponse:
    request.url = URL(f"{bad.origin}/x")
    return await handler(request)


async def _add_host(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType, bad: Site
) -> aiohttp.ClientResponse:
    request.headers.add("Host", bad.host)
    return await handler(request)


async def _substitute(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType, bad: Site
) -> aiohttp.ClientResponse:
    loop = asyncio.get_running_loop()
    own = aiohttp.ClientRequest("GET", URL(f"{bad.origin}/x"), loop=loop, session=request.session)
    return await handler(own)


async def _own_session_on_the_connector(
    session: aiohttp.ClientSession, good: Site, bad: Site
) -> None:
    async with aiohttp.ClientSession(connector=session.connector, connector_owner=False) as own:
        await own.get(f"{bad.origin}/x")


SOURCES: dict[str, Callable[[aiohttp.ClientSession, Site, Site], Awaitable[object]]] = {
    "request-class": lambda s, good, bad: s.get(f"{bad.origin}/x"),
    "redirect-hop": lambda s, good, bad: s.get(
        f"{good.origin}/redirect?to={quote(bad.origin + '/x', safe='')}"
    ),
    "ws-connect": lambda s, good, bad: s.ws_connect(f"ws://{bad.host}/ws"),
    "middleware-nested-request": in_middleware(_fetch_elsewhere),
    "middleware-reroute": in_middleware(_reroute),
    "middleware-host-header": in_middleware(_add_host),
    "middleware-own-request": in_middleware(_substitute),
    "connector": _own_session_on_the_connector,
    "resolver-address": lambda s, good, bad: s.get(f"http://loopback.test:{bad.port}/x"),
    "resolver-port": lambda s, good, bad: s.get(f"http://moved.test:{good.port}/x"),
}


@pytest.mark.parametrize("source", SOURCES)
async def test_every_refusal_reaches_the_caller_as_a_client_error(
    sites: tuple[Site, Site], source: str
) -> None:
    good, bad = sites
    names = NameMap({"loopback.test": "127.0.0.1", "moved.test": ("127.0.0.1", bad.port)})
    policy = policy_for(good, "http://loopback.test:*/*", "http://moved.test:*/*")
    async with create_session(policy, resolver=names) as session:
        with pytest.raises(aiohttp.ClientError) as raised:
            await SOURCES[source](session, good, bad)
    assert_policy_refusal(raised.value)
    assert bad.connections == 0


@pytest.mark.parametrize("host", ["127.0.0.1:{bad}", "loopback.test:{bad}"])
async def test_the_plugin_does_not_retry_a_refusal(sites: tuple[Site, Site], host: str) -> None:
    good, bad = sites
    base = "http://" + host.format(good=good.port, bad=bad.port)
    policy = policy_for(good, "http://loopback.test:*/*")
    async with create_session(policy, resolver=NameMap({"loopback.test": "127.0.0.1"})) as session:
        client = RestClient(session, base, budget=RateBudget(), retries=3, backoff_base_s=0.01)
        with pytest.raises(NetworkNotAllowed) as raised:
            await client.get("/v3/public/instruments", {})
        assert_policy_refusal(raised.value)
        assert client.requests_sent == 1
    assert bad.connections == good.connections == 0


# -- the site a shared server serves -------------------------------------------------------------


async def test_a_host_header_naming_another_site_is_refused(sites: tuple[Site, Site]) -> None:
    """A server shared by several sites (a reverse proxy, a CDN) serves the one the ``Host``
    header names, so a request to an admitted address with another ``Host`` reaches another
    site."""
    good, _ = sites

    async def set_host(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.headers["Host"] = "internal.test"
        return await handler(request)

    async with create_session(policy_for(good), resolver=NameMap({})) as session:
        for attempt in (
            session.get(f"{good.origin}/ok", headers={"Host": "internal.test"}),
            session.get(f"{good.origin}/ok", headers={"host": f"127.0.0.1:{good.port + 1}"}),
            session.get(f"{good.origin}/ok", middlewares=(set_host,)),
            session.ws_connect(f"ws://{good.host}/ws", headers={"Host": "internal.test"}),
        ):
            with pytest.raises(NetworkNotAllowed, match="Host header") as raised:
                await attempt
            assert_policy_refusal(raised.value)
        session.headers["Host"] = "internal.test"
        with pytest.raises(NetworkNotAllowed, match="Host header"):
            await session.get(f"{good.origin}/ok")
        session.headers["Host"] = good.host
        async with session.get(f"{good.origin}/ok") as response:
            assert response.status == 200
    assert good.hosts == [good.host]
    assert good.connections == 1


async def test_a_tls_name_naming_another_site_is_refused(sites: tuple[Site, Site]) -> None:
    good, _ = sites
    policy = NetworkPolicy.from_patterns([f"https://127.0.0.1:{good.port}/*"], plugin=PLUGIN)
    async with create_session(policy, resolver=NameMap({})) as session:
        with pytest.raises(NetworkNotAllowed, match="server_hostname") as raised:
            await session.get(f"https://{good.host}/ok", server_hostname="internal.test")
        assert_policy_refusal(raised.value)
    assert good.connections == 0
