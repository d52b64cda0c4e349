"""The connector of the policed session: no socket opens, and none is handed out, unchecked.

The connector does not trust the request class (a plugin can reach ``session.connector`` and
call ``connect()`` itself, or wrap it in a session of its own), so it checks every request on its
own, at the three moments that matter:

* when ``connect()`` is called: the request as it stands, and its connection key (host, port,
  TLS, proxy, TLS name) is noted as the one checked;
* when a socket is about to be opened: the request must still have that very key (a pooled
  socket is filed under the key it was checked for, so it never serves another destination),
  and every address and port the socket may connect to is checked (see
  :func:`~host_stub.netpolicy.addresses.address_refusal`), whatever produced them: the resolver,
  aiohttp's DNS cache, or the IP literal itself;
* when the connection is handed out, after the last await: the request is checked again, so what
  aiohttp then writes on the socket is what was checked.

The checked key travels from ``connect()`` to the socket in a context variable: aiohttp opens the
socket in the task that called ``connect()``, and a key noted by another task is never seen.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver

from host_stub.netpolicy.addresses import PolicyResolver, address_refusal
from host_stub.netpolicy.policy import NetworkPolicy, PolicyRefusal
from host_stub.netpolicy.request import refusal_of
from host_stub.spec import NetworkNotAllowed

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ConnectionKey
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = ["PolicyConnector"]

_HOOKS = ("connect", "_create_connection", "_wrap_create_connection")
_missing = [hook for hook in _HOOKS if not callable(getattr(aiohttp.TCPConnector, hook, None))]
if _missing:  # pragma: no cover - guards an aiohttp upgrade, not a code path
    raise ImportError(
        f"aiohttp {aiohttp.__version__} has no TCPConnector.{', '.join(_missing)}: the network "
        "policy cannot check sockets where they are opened; pin aiohttp to a version it supports"
    )


@attrs.frozen
class _Checked:
    request: aiohttp.ClientRequest = attrs.field(eq=False)
    key: ConnectionKey
    url: str


_CHECKED: contextvars.ContextVar[_Checked | None] = contextvars.ContextVar(
    "netpolicy_checked", default=None
)


class PolicyConnector(aiohttp.TCPConnector):
    """A TCP connector that checks every connection request, every socket it opens and every
    name resolution against ``policy``. ``resolver`` is the real resolver to wrap (aiohttp's
    default when None); the other keyword arguments go to :class:`aiohttp.TCPConnector`."""

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

    def _refuse(self, url: str, reason: str, nearest: str | None = None) -> PolicyRefusal:
        nearest = self._policy.nearest(url) if nearest is None else nearest
        return PolicyRefusal(self._policy.plugin, url, reason, nearest)

    def _check(self, req: aiohttp.ClientRequest, checked: _Checked | None, moment: str) -> None:
        """Refuse ``req`` unless it is the request checked in ``connect()``, with the key noted
        then, and still admitted."""
        url = str(req.url)
        if checked is None or checked.request is not req:
            raise self._refuse(url, f"{moment} for a request the connector never checked")
        if req.connection_key != checked.key:
            reason = (
                f"the request's destination changed after the policy checked it ({moment}; "
                f"checked {checked.url!r})"
            )
            raise self._refuse(url, reason)
        refusal = refusal_of(self._policy, req)
        if refusal is not None:
            raise self._refuse(url, refusal.reason, refusal.nearest)

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        checked = _Checked(req, req.connection_key, str(req.url))
        self._check(req, checked, "before connecting")
        token = _CHECKED.set(checked)
        try:
            conn = await super().connect(req, traces, timeout)
        except aiohttp.ClientConnectorError as exc:
            # aiohttp wraps what the resolver raises (an OSError) as ClientConnectorDNSError.
            cause = exc.os_error
            if not isinstance(cause, NetworkNotAllowed):
                raise
            raise self._refuse(checked.url, cause.reason) from None
        finally:
            _CHECKED.reset(token)
        try:
            self._check(req, checked, "when the connection was handed out")
        except PolicyRefusal:
            conn.release()
            raise
        return conn

    async def _create_connection(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> ResponseHandler:
        self._check(req, _CHECKED.get(), "before a socket was opened")
        return await super()._create_connection(req, traces, timeout)

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        checked = _CHECKED.get()
        req: aiohttp.ClientRequest = kwargs["req"]
        self._check(req, checked, "before a socket was opened")
        assert checked is not None
        host, port = checked.key.host, checked.key.port
        assert port is not None
        for *_, sockaddr in kwargs["addr_infos"]:
            reason = address_refusal(self._policy, host, port, str(sockaddr[0]), int(sockaddr[1]))
            if reason is not None:
                raise self._refuse(checked.url, reason)
        return await super()._wrap_create_connection(*args, **kwargs)

    async def close(self, *, abort_ssl: bool = False) -> None:
        try:
            await super().close(abort_ssl=abort_ssl)
        finally:
            await self._policy_resolver.close()
