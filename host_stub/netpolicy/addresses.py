"""Which IP addresses a connection for an admitted URL may end up at.

Patterns compare host names, never resolve them, so a public-looking name in a pattern could
still point at a loopback, private or cloud-metadata address. An address that is not public
unicast is admitted only when a pattern names that very address (``http://127.0.0.1:*/*`` admits
a name pointing at a local simulator); a host written as an IP literal is reached at that address
and no other. :func:`address_refusal` is the one rule; the resolver applies it to every answer
(an early, clear refusal) and the connector again to every address a socket is opened to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

from aiohttp.abc import AbstractResolver, ResolveResult

from host_stub.netpolicy.policy import NetworkPolicy, PolicyRefusal

__all__ = ["PolicyResolver", "address_kind", "address_refusal"]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CLASSES = (
    ("is_loopback", "a loopback"),
    ("is_unspecified", "an unspecified"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_reserved", "a reserved"),
    ("is_private", "a private"),
)


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


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def address_refusal(
    policy: NetworkPolicy, host: str, port: int, address: str, address_port: int
) -> str | None:
    """Why a connection for ``host`` port ``port`` (as the request names them) may not go to
    ``address`` port ``address_port``, or None if it may."""
    if address_port != port:
        return f"{host!r} port {port} would connect to {address} port {address_port}"
    literal = _ip(host)
    if literal is not None:
        if _ip(address) != literal:
            return f"the IP address {host} would connect to {address} instead"
        return None
    kind = address_kind(address)
    if kind is not None and not policy.names_address(address, port):
        return f"{host!r} resolves to {address}, {kind}, and no pattern names that address"
    return None


class PolicyResolver(AbstractResolver):
    """Wraps a resolver and refuses answers that point a name at a non-public address (or at
    another port than the one asked for)."""

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver, *, owns_inner: bool):
        self._policy = policy
        self._inner = inner
        self._owns_inner = owns_inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = address_refusal(self._policy, host, port, result["host"], result["port"])
            if reason is not None:
                raise PolicyRefusal(self._policy.plugin, f"{host}:{port}", reason)
        return results

    async def close(self) -> None:
        if self._owns_inner:
            await self._inner.close()
