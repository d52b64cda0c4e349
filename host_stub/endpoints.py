"""Where the plugin connects: ``--env``, ``--rest-url`` + ``--ws-url``, or ``--simulator``.

Custom endpoints come in pairs. A custom REST server with the production WebSocket (or the
reverse) would mix two exchanges in one session, history from one and live candles from the
other, so one without the other is refused. ``--simulator URL`` names the project's simulator
on this machine by either of the URLs it prints; both are derived from it and admitted.
Every URL is read by the network policy's own strict parser, so a URL the host accepts here is
one the policy can judge, and a suggested ``--allow`` pattern is one the policy accepts.
"""

from __future__ import annotations

import attrs

from host_stub.netpolicy import InvalidPattern, InvalidUrl, NetworkPolicy, ParsedUrl, parse_url


class EndpointError(ValueError):
    """The endpoint options are wrong or incomplete; the message says what would be right."""


SIMULATOR_WS_PATH = "/v3/public"
"""Where the simulator serves its WebSocket: WOO X's own path, which the simulator keeps (a test
checks this against ``woox_datasource.simulator``)."""

_LOOPBACK = ("127.0.0.1", "::1")
"""Addresses, not names: the policy compares host names without resolving them."""


@attrs.frozen
class Endpoints:
    """The settings to configure the plugin with, and the patterns they imply admitting."""

    environment: str
    rest_url: str | None = None
    ws_url: str | None = None
    allow: tuple[str, ...] = ()
    """Patterns admitted by choosing these endpoints (``--simulator`` only)."""

    def settings(self) -> dict[str, str]:
        settings = {"environment": self.environment}
        if self.rest_url is not None:
            settings["rest_url"] = self.rest_url
        if self.ws_url is not None:
            settings["ws_url"] = self.ws_url
        return settings

    def describe_ws(self) -> str:
        """The WebSocket the plugin will use, as messages name it."""
        if self.ws_url is not None:
            return self.ws_url
        return f"the plugin's {self.environment} WebSocket"


def resolve(
    *, environment: str, rest_url: str | None, ws_url: str | None, simulator: str | None
) -> Endpoints:
    """Check the endpoint options together and return what they mean."""
    if simulator is not None:
        given = [f"--{n}" for n, v in (("rest-url", rest_url), ("ws-url", ws_url)) if v]
        if given:
            raise EndpointError(
                f"--simulator sets both URLs; drop {' and '.join(given)} (or drop --simulator "
                "and give --rest-url and --ws-url)"
            )
        if environment != "production":
            raise EndpointError("--simulator and --env are alternatives; give one of them")
        return _simulator(simulator)
    if (rest_url is None) != (ws_url is None):
        have, missing = ("--rest-url", "--ws-url") if ws_url is None else ("--ws-url", "--rest-url")
        raise EndpointError(
            f"{have} needs {missing} too: with only one of them, history and live candles would "
            f"come from two different exchanges (for the simulator, use --simulator URL)"
        )
    if rest_url is not None and ws_url is not None:
        _checked("--rest-url", rest_url, ("http", "https"))
        _checked("--ws-url", ws_url, ("ws", "wss"))
    return Endpoints(environment, rest_url, ws_url)


def _simulator(url: str) -> Endpoints:
    parsed = _checked("--simulator", url, ("http", "ws"))
    if parsed.host not in _LOOPBACK:
        raise EndpointError(
            f"--simulator {url!r}: the simulator serves this machine only (127.0.0.1); for another "
            "server give --rest-url and --ws-url, admitted with --allow"
        )
    origin = parsed.netloc
    return Endpoints(
        "production",
        rest_url=f"http://{origin}",
        ws_url=f"ws://{origin}{SIMULATOR_WS_PATH}",
        allow=(f"http://{origin}/*", f"ws://{origin}/*"),
    )


def _checked(option: str, url: str, schemes: tuple[str, ...]) -> ParsedUrl:
    example = f"{schemes[0]}://127.0.0.1:8765"
    try:
        parsed = parse_url(url)
    except InvalidUrl as exc:
        raise EndpointError(f"{option} {url!r} is not a usable URL: {exc.problem} "
                            f"(e.g. {example})") from None  # fmt: skip
    if parsed.scheme not in schemes:
        raise EndpointError(
            f"{option} {url!r} must be a {' or '.join(schemes)} URL (e.g. {example})"
        )
    return parsed


def refusal(policy: NetworkPolicy, endpoints: Endpoints, plugin: str) -> str | None:
    """Why the policy refuses the custom endpoints, with the ``--allow`` patterns that would
    admit them when there are such; None when everything is admitted."""
    refused = [
        (key, url)
        for key, url in (("rest_url", endpoints.rest_url), ("ws_url", endpoints.ws_url))
        if url is not None and not policy.allows(url)
    ]
    if not refused:
        return None
    message = (
        f"the host's network policy refuses "
        f"{' and '.join(f'{key} {url!r}' for key, url in refused)} for plugin {plugin!r} "
        f"(it admits only {', '.join(policy.texts)})"
    )
    suggestions = [_suggestion(policy, url) for _, url in refused]
    if None in suggestions:
        reasons = [why.reason for _, url in refused if (why := policy.refusal(url)) is not None]
        return f"{message}: {'; '.join(reasons)}"
    them = "it" if len(refused) == 1 else "them"
    return f"{message}; to admit {them}, add: " + " ".join(f"--allow '{s}'" for s in suggestions)


def _suggestion(policy: NetworkPolicy, url: str) -> str | None:
    """``scheme://host:port/*`` for ``url``, if the policy would accept it and it would admit
    ``url``; never a pattern that is then rejected."""
    try:
        parsed = parse_url(url)
        pattern = f"{parsed.scheme}://{parsed.netloc}/*"
        admits = policy.extended([pattern]).allows(url)
    except (InvalidUrl, InvalidPattern):
        return None
    return pattern if admits else None
