"""The aiohttp session that enforces a :class:`NetworkPolicy`.

Four checks, each where a plugin holding the session cannot route around it by argument:

* A request-start trace checks the URL as the caller wrote it (aiohttp strips ``user@`` before
  anything else sees it), so the session refuses exactly what :meth:`NetworkPolicy.check` refuses.
* The session's request class checks every request it builds: the first URL, every redirect hop
  (aiohttp builds a new request per hop) and every WebSocket handshake, before any middleware
  runs, so a per-request ``middlewares=()`` changes nothing. ``proxy=`` is refused there too.
* The connector checks ``req.url`` again before it hands out a pooled or new connection, so a
  middleware that rewrites ``req.url`` is caught as well.
* The resolver checks what a name resolves to: a name that resolves to a loopback, private,
  link-local, unspecified, multicast, reserved or otherwise non-global address is refused unless a
  pattern names that very address (``http://127.0.0.1:*/*`` admits a name pointing at a local
  simulator). The check runs on the addresses the connection then uses, so a DNS answer that
  changes between check and connect (rebinding) cannot slip through.

aiohttp re-wraps any ``OSError`` that escapes the connector as ``ClientOSError`` (and a resolver's
as ``ClientConnectorDNSError``), which would bury :class:`NetworkNotAllowed` (a
``PermissionError``). Refusals from the request class are raised before that wrapping and reach the
caller as plain ``NetworkNotAllowed``; refusals from inside the connector are raised as
:class:`PolicyRefusal`, a ``NetworkNotAllowed`` that is also an ``aiohttp.ClientError``, the one
family aiohttp passes through untouched. Code that retries on ``aiohttp.ClientError`` should let
``NetworkNotAllowed`` through first.

In-process enforcement stops bugs and misconfiguration, not hostile code: a plugin running in the
host's process can build its own session, replace ``session._connector`` or open sockets directly.
``trust_env`` is forced off so environment proxies and ``.netrc`` play no part.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from host_stub.netpolicy.policy import NetworkPolicy, Refusal
from host_stub.netpolicy.urls import InvalidUrl, ParsedUrl, parse_url
from host_stub.spec import NetworkNotAllowed

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = [
    "PolicyConnector",
    "PolicyRefusal",
    "PolicyResolver",
    "address_kind",
    "create_session",
    "request_refusal",
]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CLASSES = (
    ("is_loopback", "a loopback"),
    ("is_unspecified", "an unspecified"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_reserved", "a reserved"),
    ("is_private", "a private"),
)


class PolicyRefusal(NetworkNotAllowed, aiohttp.ClientError):
    """A refusal raised inside the connector or resolver. It is a :class:`NetworkNotAllowed`;
    it is also an ``aiohttp.ClientError`` only so that aiohttp does not re-wrap it."""


def _embedded(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Any IPv4 address an IPv6 transition form carries inside it, then the address itself
    (the embedded one first: it is where the connection really ends up)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address.teredo is not None:
            yield from address.teredo
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    yield address


def address_kind(address: str) -> str | None:
    """Describe ``address`` if it is not a public unicast address (e.g. ``'a loopback
    address'``), else None. Text that is no IP address at all is described too."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    for candidate in _embedded(parsed):
        for attribute, kind in _CLASSES:
            if getattr(candidate, attribute):
                return f"{kind} address"
        if not candidate.is_global:
            return "a non-global address"
    return None


class PolicyResolver(AbstractResolver):
    """Wraps a resolver and refuses answers that point a name at a non-public address."""

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver, *, owns_inner: bool):
        self._policy = policy
        self._inner = inner
        self._owns_inner = owns_inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = result["host"]
            kind = address_kind(address)
            if kind is not None and not self._policy.names_address(address, port):
                reason = (
                    f"{host!r} resolves to {address}, {kind}, and no pattern names that address"
                )
                raise PolicyRefusal(self._policy.plugin, f"{host}:{port}", reason)
        return results

    async def close(self) -> None:
        if self._owns_inner:
            await self._inner.close()


def _same_destination(parsed: ParsedUrl, url: URL) -> bool:
    """Whether aiohttp, which connects to ``url.raw_host``/``url.port``, reads ``url`` as we do."""
    raw_host = (url.raw_host or "").lower()
    if raw_host.endswith("."):
        raw_host = raw_host[:-1]
    if ":" in raw_host:
        try:
            raw_host = ipaddress.IPv6Address(raw_host).compressed
        except ValueError:
            return False
    return (url.scheme, raw_host, url.port) == (parsed.scheme, parsed.host, parsed.port)


def request_refusal(policy: NetworkPolicy, url: URL, proxy: URL | None) -> Refusal | None:
    """Why a request for ``url`` (through ``proxy``) is refused, or None if it may go."""
    text = str(url)
    if proxy is not None:
        shown = proxy.with_user(None)
        reason = f"requests through a proxy are not allowed (proxy {str(shown)!r})"
        return Refusal(reason, policy.nearest(text))
    try:
        parsed = parse_url(text)
    except InvalidUrl as exc:
        return Refusal(exc.problem, policy.nearest_to_text(text))
    refusal = policy.refusal_for(parsed)
    if refusal is None and not _same_destination(parsed, url):
        reason = (
            f"aiohttp would connect to {url.raw_host!r} port {url.port}, "
            f"not {parsed.host!r} port {parsed.port}"
        )
        return Refusal(reason, policy.nearest(text))
    return refusal


def policy_request_class(policy: NetworkPolicy) -> type[aiohttp.ClientRequest]:
    """A request class that refuses, while it is being built, any request the policy refuses."""

    class PolicyRequest(aiohttp.ClientRequest):
        def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
            refusal = request_refusal(policy, url, kwargs.get("proxy"))
            if refusal is not None:
                raise NetworkNotAllowed(policy.plugin, str(url), refusal.reason, refusal.nearest)
            super().__init__(method, url, **kwargs)

    return PolicyRequest


def _url_as_written_check(policy: NetworkPolicy) -> aiohttp.TraceConfig:
    """Check the first URL as the caller wrote it. aiohttp moves userinfo into an Authorization
    header before it builds a request, so the request class never sees ``user@``; the
    request-start trace does, and raising there reaches the caller unwrapped."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        policy.check(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


class PolicyConnector(aiohttp.TCPConnector):
    """A TCP connector that checks every connection request and every name resolution against
    ``policy``. ``resolver`` is the real resolver to wrap (aiohttp's default when None); the
    other keyword arguments go to :class:`aiohttp.TCPConnector`."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolver: AbstractResolver | None = None,
        **kwargs: Any,
    ) -> None:
        inner = aiohttp.DefaultResolver() if resolver is None else resolver
        self._policy = policy
        self._policy_resolver = PolicyResolver(policy, inner, owns_inner=resolver is None)
        super().__init__(resolver=self._policy_resolver, **kwargs)

    @property
    def policy(self) -> NetworkPolicy:
        return self._policy

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        text = str(req.url)
        refusal = request_refusal(self._policy, req.url, req.proxy)
        if refusal is not None:
            raise PolicyRefusal(self._policy.plugin, text, refusal.reason, refusal.nearest)
        try:
            return await super().connect(req, traces, timeout)
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            if not isinstance(cause, NetworkNotAllowed):
                raise
            nearest = self._policy.nearest(text)
            raise PolicyRefusal(self._policy.plugin, text, cause.reason, nearest) from None

    async def close(self, *, abort_ssl: bool = False) -> None:
        try:
            await super().close(abort_ssl=abort_ssl)
        finally:
            await self._policy_resolver.close()


def create_session(
    policy: NetworkPolicy,
    *,
    resolver: AbstractResolver | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
    **connector_kwargs: Any,
) -> aiohttp.ClientSession:
    """Build the session a host hands a plugin: every request, redirect hop, WebSocket
    handshake and name resolution is held to ``policy``; refusals raise
    :class:`NetworkNotAllowed`. Call it inside the running event loop the session will live on;
    the caller closes the session."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("create_session() must be called inside a running event loop") from None
    connector = PolicyConnector(policy, resolver=resolver, **connector_kwargs)
    session_kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return aiohttp.ClientSession(
        connector=connector,
        request_class=policy_request_class(policy),
        trace_configs=[_url_as_written_check(policy)],
        trust_env=False,
        **session_kwargs,
    )
