"""The plugin's settings, as the host passes them to the ``configure`` hook.

Settings arrive as a flat ``str -> str`` mapping (what a terminal's settings page can store), so
every value is parsed and checked here, and a wrong one is an :class:`InvalidRequest` that names
the key, the value and what would be right.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from host_stub.spec import InvalidRequest
from woox_datasource import wire

ENVIRONMENTS = tuple(wire.REST_URLS)


@attrs.frozen
class Settings:
    environment: str = "production"
    rest_url: str = wire.REST_URLS["production"]
    ws_url: str = wire.WS_URLS["production"]
    rate_limit: int = 10
    """REST requests per second the plugin allows itself (WOO X allows 10 per IP)."""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> Settings:
        unknown = sorted(set(settings) - set(_KNOWN))
        if unknown:
            raise InvalidRequest(
                f"unknown setting(s) {', '.join(map(repr, unknown))}; "
                f"known settings: {', '.join(_KNOWN)}"
            )
        environment = settings.get("environment", "production")
        if environment not in ENVIRONMENTS:
            raise InvalidRequest(
                f"setting 'environment' must be one of {', '.join(ENVIRONMENTS)}, "
                f"got {environment!r}"
            )
        rest_url = _url("rest_url", settings.get("rest_url", wire.REST_URLS[environment]), "http")
        ws_url = _url("ws_url", settings.get("ws_url", wire.WS_URLS[environment]), "ws")
        raw_limit = settings.get("rate_limit", "10")
        try:
            rate_limit = int(raw_limit)
        except ValueError:
            rate_limit = 0
        if not 1 <= rate_limit <= 1000:
            raise InvalidRequest(
                f"setting 'rate_limit' must be a whole number of requests per second from 1 to "
                f"1000, got {raw_limit!r}"
            )
        return cls(environment, rest_url, ws_url, rate_limit)


_KNOWN = ("environment", "rest_url", "ws_url", "rate_limit")


def _url(key: str, value: str, scheme: str) -> str:
    """Check that ``value`` is an endpoint URL of ``scheme`` or its TLS twin (scheme and host,
    no query or fragment). Whether the host may reach it is the host's policy, not ours."""
    parts = urlsplit(value)
    if (
        parts.scheme not in (scheme, scheme + "s")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise InvalidRequest(
            f"setting {key!r} must be a {scheme} or {scheme}s URL such as "
            f"'{scheme}://127.0.0.1:8080', got {value!r}"
        )
    return value.rstrip("/")
