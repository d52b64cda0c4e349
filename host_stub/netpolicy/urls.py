"""A strict URL reader for the network policy.

Mainstream parsers disagree on odd URLs: WHATWG (browsers, and yarl in places) turns ``\\`` into
``/``, reads ``2130706433`` as ``127.0.0.1`` and maps Unicode hosts through UTS 46, while RFC 3986
readers such as :mod:`urllib.parse` take the same text literally. A policy that reads a URL one way
while the connection goes where another parser reads it is no policy at all, so this module refuses
every spelling on which they could differ and normalises the rest to one canonical form. The
allowlist then compares canonical forms only.

Decisions worth knowing:

* An IPv4-mapped IPv6 literal (``[::ffff:127.0.0.1]``) is refused rather than canonicalised: it
  names an IPv4 host through IPv6 syntax, and whether it connects at all depends on the socket's
  dual-stack setting. Write the IPv4 address instead.
* A Unicode host is converted with both IDNA 2008/UTS 46 (the ``idna`` package, which yarl and so
  aiohttp use) and IDNA 2003 (the standard library); when they disagree (``ß``, ``ς``, joiners)
  the host is refused as ambiguous. A Unicode spelling of an IP address is refused too.
* Percent-escapes of unreserved characters are decoded (``%7E`` is ``~``, ``%2e`` is ``.``) before
  dot-segments are resolved; an encoded ``/`` or ``\\`` in the path, and ``..;`` (a dot-segment
  to servlet containers, a name to others), are refused, because servers read them differently.
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import attrs
import idna

__all__ = [
    "DEFAULT_PORTS",
    "InvalidUrl",
    "ParsedUrl",
    "dot_segment",
    "parse_url",
    "require_plain_str",
]

DEFAULT_PORTS: Final[Mapping[str, int]] = MappingProxyType(
    {"http": 80, "https": 443, "ws": 80, "wss": 443}
)
"""The schemes the policy knows, with the port a URL without one reaches."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH_KEEP: Final = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_HEX: Final = frozenset(string.hexdigits)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_CANONICAL_OCTET = re.compile(r"0|[1-9][0-9]{0,2}")


class InvalidUrl(ValueError):
    """A URL the policy refuses to read: ``problem`` says what is wrong with ``url``."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"cannot use URL {shorten(url)!r}: {problem}")


class UrlProblem(Exception):
    """Internal: one thing wrong with a URL or pattern; callers turn it into their typed error."""


def shorten(text: str, limit: int = 200) -> str:
    """Keep error messages readable when someone feeds a megabyte of text."""
    return text if len(text) <= limit else text[:limit] + "…"


@attrs.frozen
class ParsedUrl:
    """A URL in the one form the policy compares: what it would connect to and which path.

    ``host`` is lower-case ASCII (IDNA A-labels) without a trailing dot, a dotted-quad IPv4
    address, or a compressed IPv6 address without brackets. ``port`` is always filled in. ``path``
    starts with ``/``, has dot-segments resolved and percent-escapes normalised. The query and
    fragment are not kept: they do not change where a request goes."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address when the host is an IP literal, else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


@attrs.frozen
class UrlParts:
    """Internal: the raw pieces of ``scheme://authority/path?query#fragment``."""

    scheme: str
    host: str
    port: str | None
    path: str
    query: str | None
    fragment: str | None


def parse_url(url: str) -> ParsedUrl:
    """Read ``url`` strictly and return its normalised form.

    Raises :class:`InvalidUrl` naming the problem whenever two mainstream parsers could read the
    URL differently (see the module docstring), and for anything that is not an absolute
    http/https/ws/wss URL with a host."""
    require_plain_str(url, "a URL")
    try:
        parts = split_url(url)
        host, _ = parse_host(parts.host, wildcard_ok=False)
        port = DEFAULT_PORTS[parts.scheme] if parts.port is None else parse_port(parts.port)
        path = normalise_path(parts.path)
    except UrlProblem as problem:
        raise InvalidUrl(url, str(problem)) from None
    return ParsedUrl(scheme=parts.scheme, host=host, port=port, path=path)


def require_plain_str(value: object, what: str) -> None:
    """Refuse anything but an exact ``str``. A ``str`` subclass can override ``__str__``,
    slicing or comparison, so the text the policy reads need not be the text a client sends."""
    if type(value) is not str:
        if isinstance(value, str):
            raise TypeError(
                f"{what} must be a plain str, not the str subclass {type(value).__qualname__} "
                "(a subclass can read differently from its characters): pass str(value) if you "
                "trust it"
            )
        raise TypeError(f"{what} must be a str, got {type(value).__qualname__}")


def dot_segment(raw_path: str) -> str | None:
    """The first dot-segment (``.`` or ``..``, percent-encoded or not, any case) in a path as it
    is sent, or None. A server that routes the raw path and one that resolves it first serve
    different resources for such a path, so a policy judging one of them must refuse it."""
    for segment in raw_path.split("/"):
        if segment.replace("%2e", ".").replace("%2E", ".") in (".", ".."):
            return segment
    return None


def split_url(text: str) -> UrlParts:
    """Cut ``text`` into raw parts, refusing the structural tricks (userinfo, missing ``//``)."""
    check_characters(text)
    match = _SCHEME.match(text)
    if match is None:
        if text.startswith("//"):
            raise UrlProblem("scheme-relative URL: write the scheme, e.g. https://host/path")
        raise UrlProblem("no scheme: expected scheme://host/path")
    scheme = match.group()[:-1].lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlProblem(f"unsupported scheme {scheme!r}: expected one of http, https, ws, wss")
    rest = text[match.end() :]
    if not rest.startswith("//"):
        if rest.startswith("/"):
            raise UrlProblem(f"one slash after '{scheme}:': expected {scheme}://host")
        raise UrlProblem(f"missing authority: expected {scheme}://host after '{scheme}:'")
    rest = rest[2:]
    # The widest reading any parser gives the authority runs to the first '/': a '@' there is
    # userinfo to someone (older parsers do not stop at '?' or '#', hence `host#@evil`).
    if "@" in rest.split("/", 1)[0]:
        raise UrlProblem("userinfo ('@' in the authority) is not allowed")
    rest, hash_sign, fragment = rest.partition("#")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, remainder = rest[:end], rest[end:]
    if not authority:
        raise UrlProblem("missing host after '//'")
    host, port = split_authority(authority)
    path, question_mark, query = remainder.partition("?")
    return UrlParts(
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        query=query if question_mark else None,
        fragment=fragment if hash_sign else None,
    )


def check_characters(text: str) -> None:
    """Refuse backslashes, whitespace and control/format characters anywhere in the text."""
    for position, char in enumerate(text):
        if char == "\\":
            raise UrlProblem(f"backslash at position {position}: parsers disagree whether it is /")
        if char.isspace() or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise UrlProblem(
                f"whitespace or control character U+{ord(char):04X} at position {position}"
            )


def split_authority(authority: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (host possibly a bracketed IPv6 literal); the port stays raw."""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise UrlProblem("unclosed '[' in the host")
        host, after = authority[: close + 1], authority[close + 1 :]
        if not after:
            return host, None
        if not after.startswith(":"):
            raise UrlProblem(f"unexpected {after!r} after the IPv6 address")
        return host, after[1:]
    host, colon, port = authority.partition(":")
    if ":" in port:
        raise UrlProblem("more than one ':' in the authority (an IPv6 address needs [brackets])")
    if "[" in host or "]" in host:
        raise UrlProblem("'[' or ']' in the host outside an IPv6 literal")
    return host, port if colon else None


def parse_port(text: str) -> int:
    """A decimal port 1-65535; anything else is refused rather than defaulted."""
    if not text:
        raise UrlProblem("empty port after ':'")
    if not (text.isascii() and text.isdigit()):
        raise UrlProblem(f"malformed port {text!r}: expected decimal digits")
    port = int(text) if len(text) <= 5 else 65536
    if not 1 <= port <= 65535:
        raise UrlProblem(f"port {text} is out of range 1-65535")
    return port


def parse_host(raw: str, *, wildcard_ok: bool) -> tuple[str, bool]:
    """Normalise a host; return it and whether it carried a leading ``*.`` (patterns only)."""
    if raw.startswith("["):
        return parse_ipv6(raw[1:-1]), False
    if "%" in raw:
        raise UrlProblem(f"percent-encoded host {raw!r}: decoders disagree on what it names")
    wildcard = wildcard_ok and raw.startswith("*.")
    if wildcard:
        raw = raw[2:]
    if "*" in raw:
        hint = ": a wildcard must be the whole leading label, as in *.example.com"
        raise UrlProblem(f"'*' in host {raw!r}" + (hint if wildcard_ok else ""))
    if not raw:
        raise UrlProblem("missing host")
    name = raw.lower() if raw.isascii() else idna_to_ascii(raw)
    trailing_dot = name.endswith(".")
    labels = (name[:-1] if trailing_dot else name).split(".")
    if "" in labels:
        raise UrlProblem(f"empty label in host {raw!r}")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # WHATWG reads a host ending in a number as IPv4 (`127.1`, `0x7f000001`); urllib as a
        # name. Only the canonical dotted quad means the same to both.
        if wildcard:
            raise UrlProblem(f"a wildcard cannot cover an IP address ({raw!r})")
        if trailing_dot or not raw.isascii():
            raise UrlProblem(f"unusual spelling of an IP address {raw!r}: write it plainly")
        return canonical_ipv4(labels), False
    for label in labels:
        check_label(label)
    if wildcard and len(labels) < 2:
        raise UrlProblem(f"'*.{raw}' would admit a whole top-level domain")
    name = ".".join(labels)
    if len(name) > 253:
        raise UrlProblem("host name longer than 253 characters")
    return name, wildcard


def parse_ipv6(inner: str) -> str:
    if "%" in inner:
        raise UrlProblem(f"zone identifier in IPv6 address [{inner}]")
    try:
        address = ipaddress.IPv6Address(inner) if inner.isascii() else None
    except ValueError:
        address = None
    if address is None:
        raise UrlProblem(f"invalid IPv6 address [{inner}]")
    if address.ipv4_mapped is not None:
        raise UrlProblem(
            f"IPv4-mapped IPv6 address [{inner}]: write the IPv4 address "
            f"{address.ipv4_mapped} instead"
        )
    return address.compressed


def canonical_ipv4(labels: list[str]) -> str:
    if len(labels) != 4 or not all(
        _CANONICAL_OCTET.fullmatch(label) and int(label) <= 255 for label in labels
    ):
        raise UrlProblem(
            f"non-canonical IPv4 address {'.'.join(labels)!r}: write four decimal numbers "
            "0-255 without leading zeros, e.g. 127.0.0.1"
        )
    return ".".join(labels)


def check_label(label: str) -> None:
    if len(label) > 63:
        raise UrlProblem(f"host label longer than 63 characters: {shorten(label, 70)!r}")
    if not _LABEL.fullmatch(label):
        raise UrlProblem(f"invalid host label {label!r}: expected letters, digits and '-'")
    if label.startswith("xn--"):
        try:
            valid = idna.encode(idna.decode(label)).decode("ascii") == label
        except (idna.IDNAError, UnicodeError, ValueError):
            valid = False
        if not valid:
            raise UrlProblem(f"invalid punycode label {label!r}")


def idna_to_ascii(host: str) -> str:
    """Encode a Unicode host, refusing it when IDNA 2008 and IDNA 2003 disagree."""
    try:
        modern = idna.encode(host, uts46=True).decode("ascii").lower()
        legacy = host.encode("idna").decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise UrlProblem(f"invalid internationalised host {host!r}: {exc}") from None
    if modern != legacy:
        raise UrlProblem(
            f"ambiguous internationalised host {host!r}: IDNA 2008 reads it as {modern!r}, "
            f"IDNA 2003 as {legacy!r}"
        )
    return modern


def normalise_path(raw: str, *, resolve_dots: bool = True) -> str:
    """Normalise percent-escapes, encode what needs encoding, resolve dot-segments.

    An empty path is ``/``. Unreserved escapes are decoded first, so ``%2e%2e`` is a dot-segment
    like ``..``. With ``resolve_dots=False`` (patterns) any dot-segment is an error instead."""
    if not raw:
        return "/"
    pieces: list[str] = []
    position = 0
    while position < len(raw):
        char = raw[position]
        if char == "%":
            digits = raw[position + 1 : position + 3]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise UrlProblem(f"malformed percent-escape {raw[position : position + 3]!r}")
            decoded = chr(int(digits, 16))
            if decoded in _UNRESERVED:
                pieces.append(decoded)
            elif decoded in "/\\":
                raise UrlProblem(
                    f"encoded {'slash' if decoded == '/' else 'backslash'} %{digits} in the "
                    "path: servers disagree on whether it separates segments"
                )
            elif ord(decoded) < 0x20 or decoded == "\x7f":
                raise UrlProblem(f"encoded control character %{digits} in the path")
            else:
                pieces.append("%" + digits.upper())
            position += 3
            continue
        pieces.append(char if char in _PATH_KEEP else _percent_encode(char))
        position += 1
    path = "".join(pieces)
    for segment in path.split("/"):
        if ";" in segment and segment.split(";", 1)[0] in (".", ".."):
            # Servlet containers read `..;x` as `..`; others as a plain name.
            raise UrlProblem(f"dot-segment with parameters {segment!r} in the path")
    if not resolve_dots:
        if any(segment in (".", "..") for segment in path.split("/")):
            raise UrlProblem(f"dot-segment in path {raw!r}: write the resolved path")
        return path
    return remove_dot_segments(path)


def _percent_encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: ``/v3/../admin`` is ``/admin``."""
    segments = path.split("/")[1:]
    output: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)
