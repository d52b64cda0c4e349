"""The aiohttp session that enforces a :class:`NetworkPolicy`.

Every check lives in an object the session was built with, never in something a plugin holding
the session can change by argument or by editing a public attribute:

* The request class (:mod:`host_stub.netpolicy.request`) checks every request aiohttp builds:
  the first URL, every redirect hop and every WebSocket handshake, before any middleware runs (a
  per-request ``middlewares=`` changes nothing), including the proxy, the ``Host`` header, the TLS
  ``server_hostname`` and userinfo credentials; and it seals the request's destination.
* The connector (:mod:`host_stub.netpolicy.connector`) checks the request again when it is asked
  for a connection, when it opens a socket (the key and every address the socket connects to)
  and when it hands the connection out.
* The resolver (:mod:`host_stub.netpolicy.addresses`) refuses answers that point a name at a
  non-public address no pattern names.

No trace config takes part (``session.trace_configs`` is a list any holder may clear), and
``trust_env`` is off, so environment proxies and ``.netrc`` play no part. Every refusal is a
:class:`~host_stub.netpolicy.policy.PolicyRefusal`: a ``NetworkNotAllowed`` that is also an
``aiohttp.ClientError``, which aiohttp passes through unwrapped from wherever it is raised.

In-process enforcement stops bugs and misconfiguration, not hostile code: a plugin running in the
host's process can open sockets directly, replace private attributes of the session, or write
bytes of its choosing on a connection it was handed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver

from host_stub.netpolicy.connector import PolicyConnector
from host_stub.netpolicy.policy import NetworkPolicy
from host_stub.netpolicy.request import policy_request_class

__all__ = ["create_session"]


def create_session(
    policy: NetworkPolicy,
    *,
    resolver: AbstractResolver | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
    **connector_kwargs: Any,
) -> aiohttp.ClientSession:
    """Build the session a host hands a plugin: every request, redirect hop, WebSocket
    handshake, socket and name resolution is held to ``policy``; refusals raise
    :class:`~host_stub.netpolicy.policy.PolicyRefusal`. Call it inside the running event loop the
    session will live on; the caller closes the session."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("create_session() must be called inside a running event loop") from None
    connector = PolicyConnector(policy, resolver=resolver, **connector_kwargs)
    session_kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return aiohttp.ClientSession(
        connector=connector,
        request_class=policy_request_class(policy),
        trust_env=False,
        **session_kwargs,
    )
