"""Canonical URLs: one spelling per article, so the same story reached by different links dedupes.

Everything here is pure string work over `urllib.parse` and the public suffix list snapshot that
the `publicsuffixlist` package ships (read from the installed package; nothing touches the
network).

`canonical_url` normalises a URL's spelling (RFC 3986 syntax-based normalisation plus removal of
tracking parameters). It deliberately keeps `www.` and `m.` hosts apart: whether they serve the
same page is for the page itself to say, which `choose_canonical` lets it do through its declared
`<link rel=canonical>` / `og:url`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import SplitResult, unquote_plus, urljoin, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

# Query parameters that only say how the reader arrived (campaign, click and share tracking).
# They never select content, so two links differing only in them are the same article. Matched
# case-insensitively on the decoded key. Sources: the parameter lists of ClearURLs and of the
# major analytics vendors (Google, Meta, Microsoft, Yandex, HubSpot, Marketo, Mailchimp,
# AT Internet, comScore, Adobe).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # click identifiers of ad networks
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid",
        "ttclid", "twclid", "li_fat_id", "epik",
        # e-mail / marketing automation
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking",
        "mkt_tok", "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id", "_kx", "ml_subscriber",
        "ml_subscriber_hash",
        # referrer and campaign labels used by news sites
        "ref_src", "ref_url", "cmpid", "cmp", "intcmp", "icid", "ocid", "spm", "s_cid", "s_kwcid",
        "__twitter_impression", "rss", "smid", "smtyp", "emc", "ito", "xtor", "ncid", "sr_share",
        "soc_src", "soc_trk", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
        "_ga", "_gl", "guccounter", "guce_referrer", "guce_referrer_sig", "__s", "ss_source",
        "trk", "trkcampaign", "wt.mc_id", "wt_mc_id", "cid_source",
        # Reuters' RSS links say which feed they came from
        "feedtype", "feedname",
    }
)  # fmt: skip

# Whole families of tracking parameters: Google Analytics campaigns (utm_source, utm_medium, …)
# and AT Internet, BBC's analytics (at_medium, at_campaign, at_custom1, at_link_id, …).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are in a path or query: unreserved, sub-delims, ":" "@" "/" "?".
# Anything else (spaces, non-ASCII, quotes, …) is percent-encoded as UTF-8.
_ALLOWED = _UNRESERVED | frozenset("!$&'()*+,;=:@/?")
_ESCAPE_OR_CHAR = re.compile(r"%[0-9A-Fa-f]{2}|.", re.DOTALL)


def canonical_url(url: str) -> str:
    """The normalised spelling of `url` (see the module docstring); idempotent.

    Input that does not parse as a URL is returned stripped but otherwise unchanged, so the
    function is total: a dedupe key can be made of anything a feed puts in a link.
    """
    try:
        parts = urlsplit(url.strip())
        netloc = _normalise_netloc(parts)
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    path = _normalise_escapes(parts.path)
    if netloc and not path:
        path = "/"
    query = _normalise_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def choose_canonical(page_url: str, declared: str | None) -> str:
    """The article's canonical URL: the page's own declaration when it is trustworthy.

    `declared` is the page's `<link rel=canonical>` or `og:url` (possibly relative). It wins when
    it is an absolute http(s) URL on the same site as the page (see `same_site`), so an AMP or
    mobile copy collapses onto the main article. Otherwise (absent, another site, or a site's root
    declared by a page that is not the root, a common CMS misconfiguration) the canonicalised page
    URL is used.
    """
    page = canonical_url(page_url)
    if not declared or not declared.strip():
        return page
    try:
        resolved = canonical_url(urljoin(page, declared.strip()))
        target, source = urlsplit(resolved), urlsplit(page)
    except ValueError:
        return page
    if target.scheme not in _DEFAULT_PORTS or not target.hostname:
        return page
    if not same_site(source.hostname or "", target.hostname):
        return page
    if target.path == "/" and not target.query and source.path != "/":
        return page
    return resolved


def url_key(url: str) -> str:
    """A dedupe key for `url`: sha256 hex of its canonical spelling."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()


def same_site(host_a: str, host_b: str) -> bool:
    """Whether two host names belong to the same registrable site: the same label under a public
    suffix of the Public Suffix List, its private section included, so `foo.github.io` and
    `bar.github.io` (two tenants of a shared host) are two sites while `www.bbc.co.uk` and
    `m.bbc.co.uk` are one. A host that is itself a public suffix (`co.uk`, `github.io`) is a
    site of no one's but its own; IP addresses only match themselves.
    """
    a, b = host_a.lower().rstrip("."), host_b.lower().rstrip(".")
    if a == b:
        return bool(a)
    if _is_ip(a) or _is_ip(b):
        return False
    site = registrable_domain(a)
    return site is not None and site == registrable_domain(b)


def registrable_domain(host: str) -> str | None:
    """The host's public suffix plus one label (`bbc.co.uk`, `foo.github.io`), or None when the
    host is a public suffix itself. Unknown top-level domains count as public suffixes."""
    return _suffix_list().privatesuffix(host.lower().rstrip("."))


@functools.cache
def _suffix_list() -> PublicSuffixList:
    """The list from the snapshot inside the package (never fetched), parsed once (~0.1 s)."""
    return PublicSuffixList()


def _is_ip(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()


def _normalise_netloc(parts: SplitResult) -> str:
    """Lower-case punycode host, default port dropped, userinfo kept. Raises ValueError."""
    host = parts.hostname or ""
    if not host:
        return parts.netloc.lower()
    host = _to_ascii_host(host)
    if ":" in host:  # IPv6 literal: brackets were stripped by urlsplit
        host = f"[{host}]"
    port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    if port is not None and _DEFAULT_PORTS.get(parts.scheme.lower()) != port:
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return f"{userinfo}@{host}" if userinfo else host


def _to_ascii_host(host: str) -> str:
    """IDN host to punycode with the stdlib IDNA 2003 codec (it also folds case)."""
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host.lower()  # not a valid IDN: leave it readable rather than fail


def _normalise_query(query: str) -> str:
    """Tracking parameters removed, the rest sorted by key (stable, so repeated keys keep order)."""
    pairs = [p for p in query.split("&") if p and not _is_tracking(p.partition("=")[0])]
    pairs = [_normalise_escapes(p) for p in pairs]
    pairs.sort(key=lambda pair: pair.partition("=")[0])
    return "&".join(pairs)


def _is_tracking(raw_key: str) -> bool:
    key = unquote_plus(raw_key).lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _normalise_escapes(component: str) -> str:
    """Upper-case hex escapes, decode escaped unreserved characters, escape disallowed ones."""
    return _ESCAPE_OR_CHAR.sub(_normalise_token, component)


def _normalise_token(match: re.Match[str]) -> str:
    token = match.group()
    if len(token) == 3:  # an escape "%xx"
        char = chr(int(token[1:], 16))
        return char if char in _UNRESERVED else token.upper()
    if token in _ALLOWED:
        return token
    return "".join(f"%{byte:02X}" for byte in token.encode("utf-8"))
