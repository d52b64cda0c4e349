"""The plugin's settings: one table that both the ``configure`` and ``config_fields`` hooks read.

Settings arrive as a flat ``str -> str`` mapping (what a terminal's settings page can store), so
every value is parsed and checked here, and a wrong one is an :class:`InvalidRequest` that names
the key, the value and what would be right. The table below is the only place a setting is
declared: ``config_fields()`` hands out its :class:`ConfigField` column, and
:meth:`Settings.from_mapping` accepts exactly its names, fills in its defaults and checks each
value by its row, so the form a terminal draws and what ``configure`` accepts cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import attrs

from host_stub.spec import ConfigField, ConfigType, InvalidRequest
from woox_datasource import wire

ENVIRONMENTS = tuple(wire.REST_URLS)


@attrs.frozen
class Setting:
    """One row of the table: what a terminal shows, and how the text is read."""

    field: ConfigField
    read: Callable[[str, str], object]
    """``read(name, text)`` returns the value or raises :class:`InvalidRequest`."""


def _choice(name: str, text: str) -> object:
    choices = BY_NAME[name].field.choices
    if text not in choices:
        raise InvalidRequest(f"setting {name!r} must be one of {', '.join(choices)}, got {text!r}")
    return text


def _url(scheme: str) -> Callable[[str, str], object]:
    def read(name: str, text: str) -> object:
        """An endpoint URL of ``scheme`` or its TLS twin (scheme and host, no query or fragment).
        Whether the host may reach it is the host's policy, not ours."""
        parts = urlsplit(text)
        if (
            parts.scheme not in (scheme, scheme + "s")
            or not parts.hostname
            or parts.query
            or parts.fragment
        ):
            raise InvalidRequest(
                f"setting {name!r} must be a {scheme} or {scheme}s URL such as "
                f"'{scheme}://127.0.0.1:8080', got {text!r}"
            )
        return text.rstrip("/")

    return read


def _whole(low: int, high: int, unit: str) -> Callable[[str, str], object]:
    def read(name: str, text: str) -> object:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise InvalidRequest(
                f"setting {name!r} must be a whole number of {unit} from {low} to {high}, "
                f"got {text!r}"
            )
        return value

    return read


TABLE: tuple[Setting, ...] = (
    Setting(
        ConfigField(
            "environment",
            "Environment",
            ConfigType.CHOICE,
            default="production",
            choices=ENVIRONMENTS,
            description="Which WOO X deployment to use: the live exchange or its staging copy.",
        ),
        _choice,
    ),
    Setting(
        ConfigField(
            "rest_url",
            "REST base URL",
            ConfigType.URL,
            description="A custom REST endpoint (http or https), e.g. a simulator; the host's "
            "network allowlist must admit it. Empty: the environment's own.",
        ),
        _url("http"),
    ),
    Setting(
        ConfigField(
            "ws_url",
            "WebSocket URL",
            ConfigType.URL,
            description="A custom WebSocket endpoint (ws or wss), e.g. a simulator; the host's "
            "network allowlist must admit it. Empty: the environment's own.",
        ),
        _url("ws"),
    ),
    Setting(
        ConfigField(
            "rate_limit",
            "REST requests per second",
            ConfigType.INTEGER,
            default="10",
            description="How many REST requests per second the plugin allows itself, from 1 to "
            "1000. WOO X allows 10 per IP address; lower it when other programs share the IP.",
        ),
        _whole(1, 1000, "requests per second"),
    ),
)

BY_NAME: Mapping[str, Setting] = {s.field.name: s for s in TABLE}


def config_fields() -> list[ConfigField]:
    """The settings a terminal can show, in the table's order."""
    return [s.field for s in TABLE]


@attrs.frozen
class Settings:
    environment: str = "production"
    rest_url: str = wire.REST_URLS["production"]
    ws_url: str = wire.WS_URLS["production"]
    rate_limit: int = 10
    """REST requests per second the plugin allows itself (WOO X allows 10 per IP)."""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> Settings:
        unknown = sorted(set(settings) - set(BY_NAME))
        if unknown:
            raise InvalidRequest(
                f"unknown setting(s) {', '.join(map(repr, unknown))}; "
                f"known settings: {', '.join(BY_NAME)}"
            )
        values: dict[str, object] = {}
        for row in TABLE:
            name = row.field.name
            text = settings.get(name) or row.field.default  # empty means "not set", as in a form
            values[name] = None if text is None else row.read(name, text)
        environment, rest_url, ws_url, rate_limit = values.values()
        assert isinstance(environment, str) and isinstance(rate_limit, int)
        return cls(
            environment=environment,
            rest_url=str(rest_url or wire.REST_URLS[environment]),
            ws_url=str(ws_url or wire.WS_URLS[environment]),
            rate_limit=rate_limit,
        )
