"""The allowlist decision, URL by URL: what the strict reader admits, what it refuses and why."""

from __future__ import annotations

import ipaddress
import string
import urllib.parse

import pytest
import yarl
from hypothesis import example, given
from hypothesis import strategies as st

from host_stub.netpolicy import (
    DEFAULT_PORTS,
    InvalidPattern,
    InvalidUrl,
    NetworkPolicy,
    ParsedUrl,
    UrlPattern,
    parse_url,
)
from host_stub.spec import NetworkNotAllowed

PATTERNS = (
    "https://api.woox.io/*",
    "https://api.staging.woox.io/*",
    "wss://wss.woox.io/*",
    "wss://wss.staging.woox.io/*",
    "https://*.example.com/v3/*",
    "http://127.0.0.1:*/*",
    "ws://127.0.0.1:*/*",
    "http://[::1]:8080/*",
)
POLICY = NetworkPolicy.from_patterns(PATTERNS, plugin="woox")
ADMIT = "admit"


def ok(url: str, case: str) -> pytest.ParameterSet:
    return pytest.param(url, ADMIT, id=f"admit-{case}")


def no(url: str, why: str, case: str) -> pytest.ParameterSet:
    return pytest.param(url, why, id=f"refuse-{case}")


CASES = [
    # the plugin's own endpoints, in their ordinary and equivalent spellings
    ok("https://api.woox.io/v3/public/kline?symbol=SPOT_BTC_USDT&type=1m", "rest"),
    ok("https://api.woox.io", "bare-origin"),
    ok("https://api.woox.io/", "root"),
    ok("https://API.WooX.IO/v3/x", "host-case"),
    ok("HTTPS://api.woox.io/v3/x", "scheme-case"),
    ok("https://api.woox.io./v3/x", "trailing-dot"),
    ok("https://api.woox.io:443/v3/x", "explicit-default-port"),
    ok("https://api.woox.io?x=1", "query-without-path"),
    ok("https://api.woox.io/v3/x#frag@evil.com", "fragment-ignored"),
    ok("https://api.woox.io/v3/%7Euser/%41", "unreserved-escapes"),
    ok("https://api.woox.io/v3/../admin", "dots-resolved-inside-root-glob"),
    ok("https://api.staging.woox.io/v3/public/instruments", "staging"),
    ok("wss://wss.woox.io/v3/public", "wss"),
    ok("wss://wss.staging.woox.io/v3/public", "wss-staging"),
    ok("https://ａｐｉ.woox.io/v3", "fullwidth-maps-to-the-same-host"),
    # the wildcard pattern
    ok("https://a.example.com/v3/x", "wildcard-one-level"),
    ok("https://a.b.c.example.com/v3/x", "wildcard-any-depth"),
    ok("https://a.example.com/v3/a/b/c", "glob-crosses-slash"),
    ok("https://a.example.com/v3/./x", "single-dot"),
    ok("https://a.example.com/x/../v3/y", "dots-lead-into-glob"),
    ok("https://a.example.com/v3/%2E/y", "encoded-single-dot"),
    # local simulator patterns
    ok("http://127.0.0.1:8080/x", "ipv4-any-port"),
    ok("http://127.0.0.1/x", "ipv4-any-port-includes-default"),
    ok("ws://127.0.0.1:9000/ws", "ws-local"),
    ok("http://[::1]:8080/x", "ipv6"),
    ok("http://[0:0:0:0:0:0:0:1]:8080/x", "ipv6-canonicalised"),
    ok("http://[::0001]:8080/", "ipv6-leading-zeros"),
    # userinfo of every kind
    no("https://user@api.woox.io/", "userinfo", "userinfo"),
    no("https://user:pass@api.woox.io/", "userinfo", "userinfo-password"),
    no("https://@api.woox.io/", "userinfo", "empty-userinfo"),
    no("https://api.woox.io@evil.com/", "userinfo", "userinfo-host-swap"),
    no("https://evil.com#@api.woox.io/", "userinfo", "hash-at"),
    no("https://api.woox.io#@evil.com/", "userinfo", "hash-at-reverse"),
    no("https://api.woox.io?@evil.com/", "userinfo", "query-at"),
    # backslashes
    no("https://api.woox.io\\@evil.com/", "backslash", "backslash-at"),
    no("https:\\\\api.woox.io\\v3", "backslash", "backslash-slashes"),
    no("https://evil.com\\.api.woox.io/", "backslash", "backslash-host"),
    no("https://api.woox.io/v3\\..\\admin", "backslash", "backslash-path"),
    # host look-alikes
    no("https://api.woox.io.evil.com/", "host 'api.woox.io.evil.com'", "suffix-trick"),
    no("https://evilapi.woox.io/", "host 'evilapi.woox.io'", "prefix-trick"),
    no("https://api.woox.iox/", "host 'api.woox.iox'", "longer-tld"),
    no("https://woox.io/", "host 'woox.io'", "parent-domain"),
    no("https://аpi.woox.io/", "xn--pi-6kc.woox.io", "cyrillic-homograph"),
    no("https://straße.woox.io/", "ambiguous internationalised host", "idna-2003-vs-2008"),
    no("https://xn--zz.woox.io/", "invalid punycode", "bad-punycode"),
    no("https://xn--a.woox.io/", "invalid punycode", "bad-punycode-short"),
    no("https://api%2ewoox.io/", "percent-encoded host", "percent-host"),
    no("https://%61pi.woox.io/", "percent-encoded host", "percent-host-letter"),
    no("https://api.woox.io../", "empty label", "double-trailing-dot"),
    no("https://api..woox.io/", "empty label", "inner-empty-label"),
    no("https://.api.woox.io/", "empty label", "leading-dot"),
    no("https://api_woox!.io/", "invalid host label", "bad-character"),
    # ports
    no("https://api.woox.io:8443/", "port 8443 is not 443", "other-port"),
    no("https://api.woox.io:/", "empty port", "empty-port"),
    no("https://api.woox.io:44a/", "malformed port", "port-letters"),
    no("https://api.woox.io:+443/", "malformed port", "port-sign"),
    no("https://api.woox.io:٤٤٣/", "malformed port", "port-arabic-digits"),
    no("https://api.woox.io:65536/", "out of range", "port-too-big"),
    no("https://api.woox.io:0/", "out of range", "port-zero"),
    no("https://api.woox.io:443:443/", "more than one ':'", "two-ports"),
    no("http://[::1]/x", "port 80 is not 8080", "ipv6-default-port"),
    no("http://[::1]:9090/x", "port 9090 is not 8080", "ipv6-other-port"),
    # schemes are exact
    no("http://api.woox.io/v3", "scheme 'http' is not 'https'", "https-downgrade"),
    no("ws://wss.woox.io/v3", "scheme 'ws' is not 'wss'", "wss-downgrade"),
    no("https://wss.woox.io/v3", "scheme 'https' is not 'wss'", "scheme-swap"),
    no("https://127.0.0.1:8080/", "scheme 'https' is not 'http'", "local-upgrade-not-listed"),
    no("ftp://api.woox.io/", "unsupported scheme 'ftp'", "ftp"),
    no("tcp://127.0.0.1:80/", "unsupported scheme 'tcp'", "tcp"),
    # IP literals: only the canonical spelling, and names are not addresses
    no("http://2130706433/", "non-canonical IPv4", "ipv4-decimal"),
    no("http://0x7f000001/", "non-canonical IPv4", "ipv4-hex"),
    no("http://0x7f.0.0.1/", "non-canonical IPv4", "ipv4-hex-octet"),
    no("http://127.1/", "non-canonical IPv4", "ipv4-short"),
    no("http://0177.0.0.1/", "non-canonical IPv4", "ipv4-octal"),
    no("http://127.0.0.01/", "non-canonical IPv4", "ipv4-leading-zero"),
    no("http://256.0.0.1/", "non-canonical IPv4", "ipv4-out-of-range"),
    no("http://example.123/", "non-canonical IPv4", "ends-in-number"),
    no("http://127.0.0.1./", "unusual spelling of an IP address", "ipv4-trailing-dot"),
    no("http://１２７.0.0.1/", "unusual spelling of an IP address", "ipv4-fullwidth"),
    no("http://[::ffff:127.0.0.1]:8080/", "IPv4-mapped", "ipv4-mapped"),
    no("http://[::ffff:7f00:1]:8080/", "IPv4-mapped", "ipv4-mapped-hex"),
    no("http://[::1%25eth0]:8080/", "zone identifier", "ipv6-zone"),
    no("http://[::1:8080/", "unclosed '['", "ipv6-unclosed"),
    no("http://[::g]:8080/", "invalid IPv6 address", "ipv6-invalid"),
    no("http://localhost:8080/", "host 'localhost'", "localhost-is-not-127"),
    no("http://127.0.0.2:8080/", "host '127.0.0.2'", "other-loopback"),
    # whitespace and control characters anywhere
    no("https://api.woox.io /v3", "U+0020", "space-in-authority"),
    no(" https://api.woox.io/v3", "U+0020", "leading-space"),
    no("https://api.woox.io/v3\t", "U+0009", "tab"),
    no("https://api.woox.io/v3\n", "U+000A", "newline"),
    no("https://api.woox.io/\x00", "U+0000", "nul"),
    no("https://api.woox.io/v3?q=\x7f", "U+007F", "del-in-query"),
    no("https://api.woox.io\u200b/", "U+200B", "zero-width-space"),
    no("https://api.woox.io\u3000/", "U+3000", "ideographic-space"),
    no("https://api.woox.io/v3#\u202e", "U+202E", "bidi-override-in-fragment"),
    no("https://api.woox.io/%00", "encoded control character", "encoded-nul"),
    # structure
    no("https:/api.woox.io/", "one slash", "one-slash"),
    no("https:api.woox.io/", "missing authority", "no-slashes"),
    no("//api.woox.io/", "scheme-relative", "scheme-relative"),
    no("https:///api.woox.io/", "missing host", "three-slashes"),
    no("https://", "missing host", "nothing-after-slashes"),
    no("https://?x=1", "missing host", "query-instead-of-host"),
    no("api.woox.io/v3", "no scheme", "no-scheme"),
    no("", "no scheme", "empty"),
    # paths: dot-segments are resolved before the glob; ambiguous escapes are refused
    no("https://a.example.com/v3/../admin", "path '/admin' is outside '/v3/*'", "dots"),
    no("https://a.example.com/v3/%2e%2e/admin", "path '/admin'", "encoded-dots"),
    no("https://a.example.com/v3/%2E%2E/admin", "path '/admin'", "encoded-dots-upper"),
    no("https://a.example.com/v3/.%2e/admin", "path '/admin'", "half-encoded-dots"),
    no("https://a.example.com/v3/a/../../admin", "path '/admin'", "double-dots"),
    no("https://a.example.com/v3/..%2fadmin", "encoded slash", "encoded-slash"),
    no("https://a.example.com/v3/x%5c..%5cadmin", "encoded backslash", "encoded-backslash"),
    no("https://a.example.com/v3/..;/admin", "dot-segment with parameters", "dot-dot-semicolon"),
    no("https://a.example.com/v3/%zz", "malformed percent-escape", "bad-escape"),
    no("https://a.example.com/v3/%4", "malformed percent-escape", "short-escape"),
    no("https://a.example.com/v4/x", "path '/v4/x' is outside '/v3/*'", "other-path"),
    no("https://a.example.com/v3", "path '/v3' is outside '/v3/*'", "path-prefix-only"),
    # the wildcard: whole labels, never the apex
    no("https://example.com/v3/x", "covers subdomains only", "apex"),
    no("https://xexample.com/v3/x", "host 'xexample.com'", "not-a-label-boundary"),
    no("https://a.example.com.evil.com/v3/x", "host 'a.example.com.evil.com'", "wildcard-suffix"),
    no("https://a.example.co/v3/x", "host 'a.example.co'", "wildcard-shorter-tld"),
    no("http://a.example.com/v3/x", "scheme 'http' is not 'https'", "wildcard-downgrade"),
    no("https://a.example.com:444/v3/x", "port 444 is not 443", "wildcard-other-port"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_policy_decides(url: str, expected: str) -> None:
    refusal = POLICY.refusal(url)
    if expected == ADMIT:
        assert refusal is None, f"{url!r} was refused: {refusal}"
        assert POLICY.allows(url)
        POLICY.check(url)
        return
    assert refusal is not None, f"{url!r} was admitted"
    assert expected in refusal.reason
    assert not POLICY.allows(url)
    with pytest.raises(NetworkNotAllowed) as raised:
        POLICY.check(url)
    assert raised.value.plugin == "woox"
    assert raised.value.url == url
    assert raised.value.nearest in PATTERNS


def test_the_table_is_large_and_mixed() -> None:
    admitted = [case for case in CASES if case.values[1] == ADMIT]
    assert len(CASES) >= 60
    assert 20 <= len(admitted) <= len(CASES) - 60


def test_refusal_message_names_plugin_url_and_nearest_pattern() -> None:
    with pytest.raises(NetworkNotAllowed) as raised:
        POLICY.check("http://api.woox.io/v3/public/kline")
    message = str(raised.value)
    assert "'woox'" in message
    assert "'http://api.woox.io/v3/public/kline'" in message
    assert "nearest allowed pattern: 'https://api.woox.io/*'" in message
    assert "scheme 'http' is not 'https'" in message
    assert isinstance(raised.value, PermissionError)


@pytest.mark.parametrize(
    ("url", "nearest"),
    [
        ("wss://wss.woox.io:444/", "wss://wss.woox.io/*"),
        ("ws://wss.staging.woox.io/", "wss://wss.staging.woox.io/*"),
        ("https://example.com/v3/", "https://*.example.com/v3/*"),
        ("http://127.0.0.2:5/", "http://127.0.0.1:*/*"),
        ("http://[::2]:8080/", "http://[::1]:8080/*"),
        ("https://api.woox.io:/", "https://api.woox.io/*"),
    ],
)
def test_nearest_pattern_is_the_obvious_one(url: str, nearest: str) -> None:
    refusal = POLICY.refusal(url)
    assert refusal is not None
    assert refusal.nearest == nearest


def test_parse_url_normalises() -> None:
    parsed = parse_url("HTTPS://Api.WOOX.io.:443/v3/a/./b/../%63%7e%2a?q#f")
    assert parsed == ParsedUrl(scheme="https", host="api.woox.io", port=443, path="/v3/a/c~%2A")
    assert str(parsed) == "https://api.woox.io/v3/a/c~%2A"
    assert parse_url("http://[0::1]:8080").netloc == "[::1]:8080"
    assert parse_url("https://bücher.example/ä b".replace(" ", "")).path == "/%C3%A4b"
    assert parse_url("https://Bücher.example/").host == "xn--bcher-kva.example"
    assert str(parse_url("http://127.0.0.1/").ip) == "127.0.0.1"
    assert parse_url("https://api.woox.io/").ip is None


def test_parse_url_error_is_typed_and_names_url() -> None:
    with pytest.raises(InvalidUrl) as raised:
        parse_url("https://user@api.woox.io/")
    assert isinstance(raised.value, ValueError)
    assert raised.value.url == "https://user@api.woox.io/"
    assert "https://user@api.woox.io/" in str(raised.value)
    assert "userinfo" in raised.value.problem


# ------------------------------------------------------------------------------------------------
# patterns


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("api.woox.io/*", "no scheme"),
        ("https://api.woox.io", "no path"),
        ("https://*/x", "'*' in host"),
        ("https://*.com/*", "whole top-level domain"),
        ("https://a.*.com/*", "whole leading label"),
        ("https://*example.com/*", "whole leading label"),
        ("https://*.*.example.com/*", "whole leading label"),
        ("https://*.127.0.0.1/*", "wildcard cannot cover an IP address"),
        ("ftp://files.example.com/*", "unsupported scheme"),
        ("https://api.woox.io:99999/*", "out of range"),
        ("https://api.woox.io:/*", "empty port"),
        ("https://api.woox.io:**/*", "malformed port"),
        ("https://user@api.woox.io/*", "userinfo"),
        ("https://api.woox.io/*?x=1", "no query"),
        ("https://api.woox.io/*#frag", "fragment"),
        ("https://api.woox.io/v3/../admin/*", "dot-segment"),
        ("https://api.woox.io/v3/%2e%2e/*", "dot-segment"),
        ("https://api.woox.io/a b", "U+0020"),
        ("https://api.woox.io\\*", "backslash"),
        ("http://127.1:*/*", "non-canonical IPv4"),
        ("http://[::ffff:127.0.0.1]/*", "IPv4-mapped"),
        ("https://xn--zz.example.com/*", "invalid punycode"),
        ("https://api.woox.io/v3/%2F*", "encoded slash"),
        ("", "no scheme"),
    ],
)
def test_malformed_patterns_are_refused_by_name(pattern: str, problem: str) -> None:
    with pytest.raises(InvalidPattern) as raised:
        NetworkPolicy.from_patterns(["https://api.woox.io/*", pattern], plugin="woox")
    assert isinstance(raised.value, ValueError)
    assert raised.value.pattern == pattern
    assert problem in raised.value.problem
    assert repr(pattern) in str(raised.value)


def test_patterns_must_be_strings_in_an_iterable() -> None:
    with pytest.raises(TypeError, match="not one str"):
        NetworkPolicy.from_patterns("https://api.woox.io/*")
    with pytest.raises(InvalidPattern, match="must be a str"):
        NetworkPolicy.from_patterns([b"https://api.woox.io/*"])  # type: ignore[list-item]


def test_pattern_normalisation_and_deduplication() -> None:
    policy = NetworkPolicy.from_patterns(
        ["https://API.woox.io:443/*", "https://api.woox.io/*", "http://127.0.0.1:*/*"]
    )
    assert policy.texts == ("https://API.woox.io:443/*", "http://127.0.0.1:*/*")
    first = policy.patterns[0]
    assert first == UrlPattern.parse("https://api.woox.io./*")
    assert (first.scheme, first.host, first.port, first.path) == ("https", "api.woox.io", 443, "/*")
    assert policy.patterns[1].port is None
    assert UrlPattern.parse("https://*.Example.COM/v3/*").host_text == "*.example.com"
    assert UrlPattern.parse("https://bücher.example/*").host == "xn--bcher-kva.example"
    assert str(first) == "https://API.woox.io:443/*"


def test_extended_adds_user_patterns_and_keeps_the_plugin_name() -> None:
    extended = POLICY.extended(["http://127.0.0.1:*/*", "https://mirror.example.org/*"])
    assert extended.plugin == "woox"
    assert extended.texts == (*PATTERNS, "https://mirror.example.org/*")
    assert extended.allows("https://mirror.example.org/v3")
    assert not POLICY.allows("https://mirror.example.org/v3")
    with pytest.raises(InvalidPattern):
        POLICY.extended(["mirror.example.org"])
    with pytest.raises(TypeError):
        POLICY.extended("https://mirror.example.org/*")


def test_empty_policy_admits_nothing() -> None:
    empty = NetworkPolicy.from_patterns([], plugin="quiet")
    assert not empty.allows("https://api.woox.io/")
    with pytest.raises(NetworkNotAllowed) as raised:
        empty.check("https://api.woox.io/")
    assert raised.value.nearest == ""
    assert "admits no URL" in raised.value.reason


@pytest.mark.parametrize(
    ("address", "port", "named"),
    [
        ("127.0.0.1", None, True),
        ("127.0.0.1", 12345, True),
        ("::ffff:127.0.0.1", 80, True),
        ("::1", 8080, True),
        ("[::1]", None, True),
        ("0:0::1", 8080, True),
        ("::1", 8081, False),
        ("127.0.0.2", None, False),
        ("localhost", None, False),
        ("api.woox.io", None, False),
        ("fe80::1%eth0", None, False),
        ("not an address", None, False),
    ],
)
def test_names_address(address: str, port: int | None, named: bool) -> None:
    assert POLICY.names_address(address, port) is named


# ------------------------------------------------------------------------------------------------
# properties

SAFE_CHARS = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"), exclude_characters="\\%;"
)
ESCAPE = st.sampled_from(["%20", "%41", "%7e", "%2E", "%e2%82%ac", "%3F", "%23"])
SEGMENT = st.lists(st.one_of(SAFE_CHARS, ESCAPE), max_size=8).map("".join)
PATH = st.lists(SEGMENT, max_size=6).map(lambda segments: "/" + "/".join(segments))


def _random_case(text: str, flips: list[bool]) -> str:
    padded = flips + [False] * len(text)
    return "".join(
        c.upper() if flip else c for c, flip in zip(text, padded[: len(text)], strict=True)
    )


@given(
    host=st.sampled_from(["api.woox.io", "api.staging.woox.io"]),
    flips=st.lists(st.booleans(), max_size=20),
    dot=st.booleans(),
    port=st.sampled_from(["", ":443"]),
    path=PATH,
    query=st.one_of(st.just(""), SEGMENT.map(lambda q: "?" + q)),
)
def test_any_path_on_an_allowed_host_is_admitted(
    host: str, flips: list[bool], dot: bool, port: str, path: str, query: str
) -> None:
    url = f"https://{_random_case(host, flips)}{'.' if dot else ''}{port}{path}{query}"
    assert POLICY.allows(url), POLICY.refusal(url)


LABEL = st.one_of(
    st.sampled_from(["api", "woox", "io", "staging", "example", "com", "evil", "wss", "x", "co"]),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
)


@given(labels=st.lists(LABEL, min_size=1, max_size=5))
@example(labels=["api", "woox", "io", "evil", "com"])
@example(labels=["example", "com"])
def test_hosts_are_admitted_exactly_or_by_whole_label_suffix(labels: list[str]) -> None:
    host = ".".join(labels)
    expected = host in ("api.woox.io", "api.staging.woox.io") or host.endswith(".example.com")
    if labels[-1].isdigit():
        expected = False  # reads as an IPv4 address; only 127.0.0.1 is named, and over http
    assert POLICY.allows(f"https://{host}/v3/x") is expected


URLISH = st.builds(
    "{}://{}{}{}{}".format,
    st.sampled_from(["http", "https", "ws", "wss", "HTTPS", "ftp"]),
    st.one_of(
        st.lists(LABEL, min_size=1, max_size=4).map(".".join),
        st.sampled_from(["127.0.0.1", "[::1]", "[0::1]", "bücher.de", "xn--bcher-kva.de", "a.b."]),
        st.text(SAFE_CHARS, max_size=12),
    ),
    st.sampled_from(["", ":80", ":443", ":8080", ":", ":x"]),
    PATH,
    st.sampled_from(["", "?a=b", "#frag", "?a#b"]),
)


@given(text=st.one_of(URLISH, st.text(), st.text().map("https://".__add__)))
def test_normalisation_is_idempotent(text: str) -> None:
    try:
        parsed = parse_url(text)
    except InvalidUrl:
        return
    assert parse_url(str(parsed)) == parsed


@given(text=st.one_of(st.text(), st.text().map("https://".__add__), URLISH))
def test_only_typed_errors_on_arbitrary_text(text: str) -> None:
    problems = []
    try:
        parse_url(text)
    except InvalidUrl as exc:
        problems.append(exc.problem)
    try:
        UrlPattern.parse(text)
    except InvalidPattern as exc:
        problems.append(exc.problem)
    assert all(problems)
    decision = POLICY.allows(text)
    try:
        POLICY.check(text)
    except NetworkNotAllowed:
        assert not decision
    else:
        assert decision


def _same_host(host: str) -> str:
    """Another parser's host in our canonical form: no trailing dot, IPv6 compressed."""
    host = host.removesuffix(".")
    return ipaddress.IPv6Address(host).compressed if ":" in host else host


@given(text=URLISH)
def test_accepted_urls_reach_the_same_place_in_yarl_and_urllib(text: str) -> None:
    """The point of refusing ambiguous spellings: whatever we accept, other parsers read alike."""
    try:
        parsed = parse_url(text)
    except InvalidUrl:
        return
    url = yarl.URL(text)
    assert (_same_host(url.raw_host or ""), url.port) == (parsed.host, parsed.port)
    if text.isascii():
        split = urllib.parse.urlsplit(text)
        assert _same_host(split.hostname or "") == parsed.host
        assert (split.port or DEFAULT_PORTS[parsed.scheme]) == parsed.port


DOT_SEGMENT = st.lists(st.sampled_from([".", "%2e", "%2E"]), min_size=1, max_size=2).map("".join)
NAME_SEGMENT = (
    st.lists(st.one_of(st.sampled_from("abXY09-._~"), ESCAPE), max_size=5)
    .map("".join)
    .map("x".__add__)  # never a dot-segment, whatever follows
)


@given(
    prefix=st.sampled_from(["/v3/", "/admin/", "/"]),
    segments=st.lists(st.tuples(st.booleans(), NAME_SEGMENT, DOT_SEGMENT), max_size=6),
)
@example(prefix="/admin/", segments=[(True, "", ".."), (False, "xv3", ""), (False, "xa", "")])
def test_a_url_object_is_judged_by_the_path_it_sends(
    prefix: str, segments: list[tuple[bool, str, str]]
) -> None:
    """A ``yarl.URL`` built with ``encoded=True`` goes on the wire as written: a dot-segment in
    it is refused however it is spelled, and otherwise the glob sees exactly the raw path."""
    raw = prefix + "/".join(dots if is_dot else name for is_dot, name, dots in segments)
    if prefix == "/admin/" and segments and not segments[0][0]:
        raw = raw.replace("/admin/", "/admin/../v3/", 1)  # resolves into /v3/*, sent as /admin
    has_dots = "/admin/../" in raw or any(is_dot for is_dot, _, _ in segments)
    expected = not has_dots and raw.startswith("/v3/")
    for url in (
        yarl.URL(f"https://a.example.com{raw}", encoded=True),
        yarl.URL.build(scheme="https", host="a.example.com", path=raw, encoded=True),
    ):
        assert POLICY.allows(url) is expected, POLICY.refusal(url)
        if has_dots:
            refusal = POLICY.refusal(url)
            assert refusal is not None and "dot-segment" in refusal.reason


@given(text=st.one_of(URLISH, URLISH.map(lambda t: t.replace("/", "/../", 1)), st.text()))
def test_a_url_object_is_never_admitted_where_its_text_is_not(text: str) -> None:
    """``yarl.URL(text, encoded=True)`` sends ``text``: admitting it where the text itself is
    refused would mean the policy read the object more leniently than the characters."""
    try:
        url = yarl.URL(text, encoded=True)
    except (ValueError, TypeError):
        return
    if POLICY.allows(url):
        assert POLICY.allows(text)
        assert POLICY.allows(str(url))


class _Subclass(str):
    """Honest (its characters and ``__str__`` agree), and refused all the same: the policy cannot
    know that, so it reads exact ``str`` only."""


@given(text=st.one_of(URLISH, st.text()))
def test_str_subclasses_are_refused_whatever_they_hold(text: str) -> None:
    sub = _Subclass(text)
    for judge in (POLICY.allows, POLICY.check, POLICY.refusal, POLICY.nearest, parse_url):
        with pytest.raises(TypeError, match="str subclass _Subclass"):
            judge(sub)
    with pytest.raises(InvalidPattern, match="str subclass _Subclass"):
        UrlPattern.parse(sub)
    with pytest.raises(InvalidPattern, match="str subclass _Subclass"):
        NetworkPolicy.from_patterns(["https://api.woox.io/*", sub])


def test_default_ports_and_string_forms() -> None:
    assert parse_url("ws://127.0.0.1").port == 80
    assert parse_url("wss://wss.woox.io").port == 443
    assert str(parse_url("wss://wss.woox.io:443")) == "wss://wss.woox.io/"
    assert str(parse_url("http://[::1]:80/")) == "http://[::1]/"
    letters = parse_url("https://x.io/" + string.ascii_letters).path
    assert letters == "/" + string.ascii_letters
