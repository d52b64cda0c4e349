"""The host's network policy: which URLs a plugin may reach, and a session that holds it to that.

Patterns (``scheme://host[:port]/path``) form a :class:`NetworkPolicy`; :func:`create_session`
builds the aiohttp session handed to the plugin, which refuses anything the policy does not admit
with :class:`PolicyRefusal` (a :class:`~host_stub.spec.NetworkNotAllowed` that is also an
``aiohttp.ClientError``). URLs are read by a strict parser (:func:`parse_url`) that refuses,
rather than guesses at, any URL two mainstream parsers could read differently. In-process
enforcement stops bugs and misconfiguration, not hostile code.
"""

from host_stub.netpolicy.addresses import PolicyResolver, address_kind, address_refusal
from host_stub.netpolicy.connector import PolicyConnector
from host_stub.netpolicy.policy import (
    InvalidPattern,
    NetworkPolicy,
    PolicyRefusal,
    Refusal,
    UrlPattern,
)
from host_stub.netpolicy.request import policy_request_class, request_refusal
from host_stub.netpolicy.session import create_session
from host_stub.netpolicy.urls import DEFAULT_PORTS, InvalidUrl, ParsedUrl, parse_url

__all__ = [
    "DEFAULT_PORTS",
    "InvalidPattern",
    "InvalidUrl",
    "NetworkPolicy",
    "ParsedUrl",
    "PolicyConnector",
    "PolicyRefusal",
    "PolicyResolver",
    "Refusal",
    "UrlPattern",
    "address_kind",
    "address_refusal",
    "create_session",
    "parse_url",
    "policy_request_class",
    "request_refusal",
]
