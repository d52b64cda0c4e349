"""URL patterns and the allowlist built from them.

A pattern is ``scheme://host[:port]/path``. The scheme is exact (``https`` never admits ``http``,
``wss`` never ``ws``). The host is exact, or ``*.suffix`` for subdomains of ``suffix`` at any depth
(whole labels, never the apex). No port means the scheme's default port; ``:*`` means any port.
``*`` in the path matches any run of characters, ``/`` included. Patterns and URLs go through the
same strict reader (:mod:`host_stub.netpolicy.urls`), so they are compared in one canonical form.

The policy reads a plain ``str`` (what someone wrote: dot-segments are resolved, as every client
resolves them before sending) or a ``yarl.URL`` (what aiohttp sends: its raw path goes on the wire
as it is, so a dot-segment in it is refused, and the host aiohttp connects to must be the host the
policy read). Anything else, ``str`` subclasses included, is a ``TypeError``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from difflib import SequenceMatcher

import aiohttp
import attrs
from yarl import URL

from host_stub.netpolicy.urls import (
    DEFAULT_PORTS,
    InvalidUrl,
    ParsedUrl,
    UrlProblem,
    dot_segment,
    normalise_path,
    parse_host,
    parse_port,
    parse_url,
    require_plain_str,
    shorten,
    split_url,
)
from host_stub.spec import NetworkNotAllowed

__all__ = ["InvalidPattern", "NetworkPolicy", "PolicyRefusal", "Refusal", "UrlPattern"]


class PolicyRefusal(NetworkNotAllowed, aiohttp.ClientError):
    """How the host raises every refusal: a :class:`~host_stub.spec.NetworkNotAllowed` that is
    also an ``aiohttp.ClientError``.

    aiohttp re-wraps any other ``OSError`` (``NetworkNotAllowed`` is a ``PermissionError``) that
    escapes a middleware, the connector or the resolver as ``ClientOSError`` or
    ``ClientConnectorError``, which retry code would retry; a ``ClientError`` it passes through
    untouched. It is not a ``ClientConnectionError``, so code retrying only those lets it through;
    code retrying any ``ClientError`` or ``OSError`` must catch ``NetworkNotAllowed`` first."""


class InvalidPattern(ValueError):
    """A network pattern that cannot be used: ``problem`` says what is wrong with ``pattern``."""

    def __init__(self, pattern: str, problem: str) -> None:
        self.pattern = pattern
        self.problem = problem
        super().__init__(
            f"invalid network pattern {shorten(pattern)!r}: {problem} "
            "(expected scheme://host[:port]/path, e.g. https://api.example.com/*)"
        )


@functools.lru_cache(maxsize=256)
def _glob(path: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in path.split("*")), re.DOTALL)


@attrs.frozen
class UrlPattern:
    """One allowlist entry, normalised. ``port`` None means any port; ``subdomains`` means the
    pattern was ``*.host`` and admits names strictly below ``host``. ``text`` is the pattern as
    written (not part of equality, so ``https://a/*`` and ``https://a:443/*`` are one entry)."""

    scheme: str
    host: str
    subdomains: bool
    port: int | None
    path: str
    text: str = attrs.field(eq=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> UrlPattern:
        """Read a pattern; raise :class:`InvalidPattern` naming the problem."""
        try:
            require_plain_str(text, "a pattern")
        except TypeError as exc:
            raise InvalidPattern(
                str.__repr__(text) if isinstance(text, str) else repr(text), str(exc)
            ) from None
        try:
            parts = split_url(text)
            if parts.query is not None or parts.fragment is not None:
                raise UrlProblem("a pattern has no query ('?') or fragment ('#')")
            host, subdomains = parse_host(parts.host, wildcard_ok=True)
            if parts.port == "*":
                port = None
            elif parts.port is None:
                port = DEFAULT_PORTS[parts.scheme]
            else:
                port = parse_port(parts.port)
            if not parts.path:
                raise UrlProblem("no path: end it with /* to admit every path")
            path = normalise_path(parts.path, resolve_dots=False)
        except UrlProblem as problem:
            raise InvalidPattern(text, str(problem)) from None
        return cls(parts.scheme, host, subdomains, port, path, text)

    @property
    def host_text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"*.{host}" if self.subdomains else host

    def admits_host(self, host: str) -> bool:
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host

    def admits_port(self, port: int) -> bool:
        return self.port is None or self.port == port

    def mismatch(self, url: ParsedUrl) -> str | None:
        """Why this pattern does not admit ``url`` (None when it does)."""
        if url.scheme != self.scheme:
            return f"scheme {url.scheme!r} is not {self.scheme!r}"
        if not self.admits_host(url.host):
            if self.subdomains and url.host == self.host:
                return f"{self.host_text!r} covers subdomains only, not {url.host!r} itself"
            return f"host {url.host!r} is not {self.host_text!r}"
        if not self.admits_port(url.port):
            return f"port {url.port} is not {self.port}"
        if not _glob(self.path).fullmatch(url.path):
            return f"path {url.path!r} is outside {self.path!r}"
        return None

    def matches(self, url: ParsedUrl) -> bool:
        return self.mismatch(url) is None

    def similarity(self, url: ParsedUrl) -> float:
        """How close ``url`` comes to this pattern; the host weighs most, then the scheme."""
        if self.admits_host(url.host):
            host = 1.0
        else:
            # Shared trailing labels say "same site"; raw text similarity only breaks ties, since
            # between unrelated names it is noise.
            ours, theirs = url.host.split("."), self.host.split(".")
            shared = 0
            while shared < min(len(ours), len(theirs)) and ours[-1 - shared] == theirs[-1 - shared]:
                shared += 1
            text = SequenceMatcher(None, url.host, self.host).ratio()
            host = 0.6 * shared / max(len(ours), len(theirs)) + 0.3 * text
        if url.scheme == self.scheme:
            scheme = 1.0
        else:
            # http/https and ws/wss differ only in TLS: a near miss, closer than another port.
            scheme = 0.75 if url.scheme.rstrip("s") == self.scheme.rstrip("s") else 0.0
        port = 1.0 if self.admits_port(url.port) else 0.0
        path = 1.0 if _glob(self.path).fullmatch(url.path) else 0.0
        return 8 * host + 2 * scheme + port + path

    def __str__(self) -> str:
        return self.text


@attrs.frozen
class Refusal:
    """Why a URL is refused, and the allowed pattern nearest to it ('' when there is none)."""

    reason: str
    nearest: str


def _unique(patterns: Iterable[UrlPattern]) -> tuple[UrlPattern, ...]:
    return tuple(dict.fromkeys(patterns))


def _pattern_texts(patterns: Iterable[str], what: str) -> list[str]:
    if isinstance(patterns, str):
        raise TypeError(f"{what} must be an iterable of pattern strings, not one str")
    return list(patterns)


@attrs.frozen
class NetworkPolicy:
    """The URLs one plugin may reach: an allowlist of :class:`UrlPattern`.

    Immutable; :meth:`extended` returns a new policy. ``plugin`` only names the plugin in
    refusals."""

    patterns: tuple[UrlPattern, ...]
    plugin: str = "plugin"

    @classmethod
    def from_patterns(cls, patterns: Iterable[str], *, plugin: str = "plugin") -> NetworkPolicy:
        """Parse every pattern (raising :class:`InvalidPattern` at the first bad one)."""
        texts = _pattern_texts(patterns, "patterns")
        return cls(_unique(UrlPattern.parse(text) for text in texts), plugin)

    def extended(self, extra_patterns: Iterable[str]) -> NetworkPolicy:
        """This policy plus ``extra_patterns`` (e.g. a user's ``--allow``), same plugin."""
        texts = _pattern_texts(extra_patterns, "extra_patterns")
        extra = [UrlPattern.parse(text) for text in texts]
        return NetworkPolicy(_unique([*self.patterns, *extra]), self.plugin)

    @property
    def texts(self) -> tuple[str, ...]:
        """The patterns as written."""
        return tuple(pattern.text for pattern in self.patterns)

    def allows(self, url: str | URL) -> bool:
        """Whether ``url`` (a plain ``str`` or a ``yarl.URL``) is admitted."""
        return self.refusal(url) is None

    def check(self, url: str | URL) -> None:
        """Return quietly if ``url`` is admitted, else raise :class:`PolicyRefusal`."""
        refusal = self.refusal(url)
        if refusal is not None:
            raise PolicyRefusal(self.plugin, str(url), refusal.reason, refusal.nearest)

    def refusal(self, url: str | URL) -> Refusal | None:
        """Why ``url`` is refused, or None when a pattern admits it. A ``yarl.URL`` is judged as
        aiohttp sends it (see the module docstring); anything but a plain ``str`` or a
        ``yarl.URL`` raises ``TypeError``."""
        verdict = self.judge(url)
        return verdict if isinstance(verdict, Refusal) else None

    def judge(self, url: str | URL) -> ParsedUrl | Refusal:
        """``url`` in the form the patterns admitted it, or why it is refused."""
        if type(url) is URL:
            return self._judge_url(url)
        require_plain_str(url, "a URL")
        assert isinstance(url, str)
        try:
            parsed = parse_url(url)
        except InvalidUrl as exc:
            return Refusal(exc.problem, self.nearest_to_text(url))
        return self.refusal_for(parsed) or parsed

    def _judge_url(self, url: URL) -> ParsedUrl | Refusal:
        try:  # yarl parses some parts lazily, and raises on reading them
            text, raw_path, raw_host, port = str(url), url.raw_path, url.raw_host, url.port
        except ValueError as exc:
            return Refusal(f"unreadable URL: {exc}", "")
        dots = dot_segment(raw_path)
        if dots is not None:
            reason = (
                f"dot-segment {dots!r} in the path as sent ({shorten(raw_path)!r}): servers "
                "that route the raw path and servers that resolve it first disagree"
            )
            return Refusal(reason, self.nearest_to_text(text))
        try:
            parsed = parse_url(text)
        except InvalidUrl as exc:
            return Refusal(exc.problem, self.nearest_to_text(text))
        refusal = self.refusal_for(parsed)
        if refusal is None and not _same_destination(parsed, url.scheme, raw_host, port):
            reason = (
                f"aiohttp would connect to {raw_host!r} port {port}, "
                f"not {parsed.host!r} port {parsed.port}"
            )
            return Refusal(reason, self.nearest_to_text(text))
        return refusal or parsed

    def refusal_for(self, url: ParsedUrl) -> Refusal | None:
        if not self.patterns:
            return Refusal("the policy admits no URL at all", "")
        if any(pattern.matches(url) for pattern in self.patterns):
            return None
        nearest = self.nearest_pattern(url)
        assert nearest is not None
        return Refusal(f"no allowed pattern matches: {nearest.mismatch(url)}", nearest.text)

    def nearest_pattern(self, url: ParsedUrl) -> UrlPattern | None:
        """The pattern ``url`` comes closest to (the first of equals), None for an empty policy."""
        if not self.patterns:
            return None
        return max(self.patterns, key=lambda pattern: pattern.similarity(url))

    def nearest(self, url: str | URL) -> str:
        """The text of the pattern nearest to ``url``, parseable or not ('' if there is none)."""
        text = str(url) if type(url) is URL else url
        require_plain_str(text, "a URL")
        assert isinstance(text, str)
        try:
            pattern = self.nearest_pattern(parse_url(text))
        except InvalidUrl:
            return self.nearest_to_text(text)
        return "" if pattern is None else pattern.text

    def nearest_to_text(self, url: str) -> str:
        if not self.patterns:
            return ""
        text = url[:300]
        return max(self.texts, key=lambda pattern: SequenceMatcher(None, text, pattern).ratio())

    def names_address(self, ip: str, port: int | None = None) -> bool:
        """Whether some pattern names the IP address ``ip`` exactly (and admits ``port`` if
        given). An IPv4-mapped IPv6 address counts as its IPv4 address; a name is never an
        address."""
        try:
            address = ipaddress.ip_address(ip.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address):
            if address.scope_id is not None:
                return False
            if address.ipv4_mapped is not None:
                address = address.ipv4_mapped
        canonical = address.compressed
        return any(
            not pattern.subdomains
            and pattern.host == canonical
            and (port is None or pattern.admits_port(port))
            for pattern in self.patterns
        )


def _same_destination(parsed: ParsedUrl, scheme: str, host: str | None, port: int | None) -> bool:
    """Whether aiohttp, which connects to a URL's ``raw_host`` and ``port``, reads it as we do."""
    raw_host = (host or "").lower()
    if raw_host.endswith("."):
        raw_host = raw_host[:-1]
    if ":" in raw_host:
        try:
            raw_host = ipaddress.IPv6Address(raw_host).compressed
        except ValueError:
            return False
    return (scheme, raw_host, port) == (parsed.scheme, parsed.host, parsed.port)
