"""What the policy checks about one request, and the request class that holds it to the check.

A request is more than its URL: a proxy decides where the socket goes, a ``Host`` header or a
TLS ``server_hostname`` decides which site a shared server (a CDN, a reverse proxy) serves over
it, and credentials in the URL are the classic place where parsers disagree about the host.
:func:`request_refusal` judges all of them from the values aiohttp will use; the connector calls
it again at each point where a connection is opened or handed out.

:func:`policy_request_class` builds the session's request class. It refuses a request while it is
being built (the first URL, every redirect hop and every WebSocket handshake, before any
middleware runs), and it is sealed: once checked, its ``url``, ``original_url``, ``proxy`` and
``server_hostname`` cannot be reassigned, so a middleware or a trace callback holding the request
cannot point it elsewhere while the connector awaits a free slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import aiohttp
from yarl import URL

from host_stub.netpolicy.policy import NetworkPolicy, PolicyRefusal, Refusal
from host_stub.netpolicy.urls import InvalidUrl, ParsedUrl, UrlProblem, parse_host, parse_url

__all__ = ["SEALED_ATTRIBUTES", "policy_request_class", "refusal_of", "request_refusal"]

SEALED_ATTRIBUTES: Final = frozenset({"url", "original_url", "proxy", "server_hostname"})
"""The request attributes that decide where it goes; fixed once the policy has checked them."""


def _host_header_refusal(url: URL, target: ParsedUrl, values: list[str]) -> str | None:
    if len(values) > 1:
        return f"{len(values)} Host headers: servers disagree on which one counts"
    if not values or values[0] == url.host_port_subcomponent:  # what aiohttp sets by itself
        return None
    try:
        named = parse_url(f"{target.scheme}://{values[0]}/")
    except InvalidUrl as exc:
        return f"unusable Host header {values[0]!r}: {exc.problem}"
    if (named.host, named.port) != (target.host, target.port):
        return (
            f"the Host header names {named.netloc!r}, not the URL's {target.netloc!r}: "
            "a server shared by several sites serves the one the header names"
        )
    return None


def _server_hostname_refusal(target: ParsedUrl, server_hostname: str | None) -> str | None:
    if server_hostname is None:
        return None
    try:
        named, _ = parse_host(server_hostname, wildcard_ok=False)
    except UrlProblem as exc:
        return f"unusable server_hostname {server_hostname!r}: {exc}"
    if named != target.host:
        return (
            f"server_hostname {server_hostname!r} is not the URL's host {target.host!r}: "
            "a server shared by several sites serves the one the TLS name selects"
        )
    return None


def request_refusal(
    policy: NetworkPolicy,
    url: URL,
    *,
    proxy: URL | None = None,
    credentials: bool = False,
    host_headers: Iterable[str] = (),
    server_hostname: str | None = None,
) -> Refusal | None:
    """Why a request for ``url`` is refused, or None if it may go. ``proxy``,
    ``server_hostname`` and the ``Host`` header values are those aiohttp will use;
    ``credentials`` says the request carries userinfo (or ``auth=``) credentials."""
    if proxy is not None:
        shown = str(proxy.with_user(None))
        return Refusal(
            f"requests through a proxy are not allowed (proxy {shown!r})", policy.nearest(url)
        )
    target = policy.judge(url)
    if isinstance(target, Refusal):
        return target
    reason = _host_header_refusal(url, target, list(host_headers)) or _server_hostname_refusal(
        target, server_hostname
    )
    if reason is None and credentials:
        reason = (
            "userinfo credentials ('user@' in the URL, or auth=) are not allowed: parsers "
            "disagree on where userinfo ends; send an Authorization header instead"
        )
    return None if reason is None else Refusal(reason, policy.nearest(url))


def refusal_of(policy: NetworkPolicy, req: aiohttp.ClientRequest) -> Refusal | None:
    """:func:`request_refusal` for a built request, from the values it will be sent with."""
    return request_refusal(
        policy,
        req.url,
        proxy=req.proxy,
        host_headers=req.headers.getall("Host", []),
        server_hostname=req.server_hostname,
    )


def _host_values(headers: Any) -> list[str]:
    """Every ``Host`` value in headers given as a mapping (a multidict keeps repeats) or pairs."""
    pairs = headers.items() if hasattr(headers, "items") else headers or ()
    return [value for key, value in pairs if key.lower() == "host"]


def policy_request_class(policy: NetworkPolicy) -> type[aiohttp.ClientRequest]:
    """A request class that refuses, while it is being built, any request the policy refuses,
    and that refuses any later change of where the request goes."""

    class PolicyRequest(aiohttp.ClientRequest):
        _policy_sealed = False

        def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
            refusal = request_refusal(
                policy,
                url,
                proxy=kwargs.get("proxy"),
                credentials=kwargs.get("auth") is not None,
                host_headers=_host_values(kwargs.get("headers")),
                server_hostname=kwargs.get("server_hostname"),
            )
            if refusal is not None:
                raise PolicyRefusal(policy.plugin, str(url), refusal.reason, refusal.nearest)
            super().__init__(method, url, **kwargs)
            self._policy_sealed = True

        def __setattr__(self, name: str, value: Any) -> None:
            if self._policy_sealed and name in SEALED_ATTRIBUTES:
                current = getattr(self, name)
                if value != current:
                    reason = (
                        f"the request's {name} cannot change after the policy checked it "
                        f"(checked {str(current)!r})"
                    )
                    raise PolicyRefusal(policy.plugin, str(value), reason, policy.nearest(self.url))
            super().__setattr__(name, value)

    return PolicyRequest
