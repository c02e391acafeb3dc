"""Canonical URLs: spelling normalisation, tracking removal, and trusting a page's declaration."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.extraction.canonical import (
    TRACKING_PARAMS,
    canonical_url,
    choose_canonical,
    same_site,
    url_key,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # BBC links from RSS carry AT Internet campaign parameters
        (
            "https://www.bbc.co.uk/news/world-europe-67000000?at_medium=RSS&at_campaign=KARANGA",
            "https://www.bbc.co.uk/news/world-europe-67000000",
        ),
        (
            "https://www.bbc.com/news/articles/c4ng?at_link_id=1&at_custom1=%5Blink%5D&at_ptr_name=tw",
            "https://www.bbc.com/news/articles/c4ng",
        ),
        # Reuters RSS feed labels; other parameters sorted
        (
            "https://www.reuters.com/article/us-usa-trade/idUSKBN1XT0AB?feedType=RSS&feedName=topNews",
            "https://www.reuters.com/article/us-usa-trade/idUSKBN1XT0AB",
        ),
        # Guardian share links: CMP plus the utm_* family, and a fragment
        (
            "https://www.theguardian.com/world/2024/may/01/story?CMP=share_btn_tw"
            "&utm_source=twitter&utm_medium=social&UTM_Campaign=x#comments",
            "https://www.theguardian.com/world/2024/may/01/story",
        ),
        # ad click identifiers and e-mail tracking, with a real parameter kept
        (
            "https://example.com/a?id=7&fbclid=IwAR0&gclid=Cj0&msclkid=1&mc_cid=2&mc_eid=3"
            "&_hsenc=p2&_hsmi=4&mkt_tok=5&igshid=6&yclid=7&dclid=8&gbraid=9&wbraid=10",
            "https://example.com/a?id=7",
        ),
        (
            "https://example.com/a?ref_src=twsrc&ref_url=x&cmpid=1&ocid=2&spm=3"
            "&__twitter_impression=true&s_cid=4&rss=1",
            "https://example.com/a",
        ),
        # scheme and host case, default ports, empty query and empty path
        ("HTTPS://WWW.Example.COM:443/Path?", "https://www.example.com/Path"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080?", "http://example.com:8080/"),
        ("https://example.com:80/x", "https://example.com:80/x"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        # remaining parameters sorted by key; repeated keys keep their order
        ("http://example.com/?b=2&a=1&b=1&c", "http://example.com/?a=1&b=2&b=1&c"),
        ("http://example.com/?x=1&&y=2&", "http://example.com/?x=1&y=2"),
        # percent-encoding: hex upper-cased, unreserved decoded, reserved kept escaped
        (
            "http://a.example/%7euser/%e2%82%ac%2F?q=a%20b+c",
            "http://a.example/~user/%E2%82%AC%2F?q=a%20b+c",
        ),
        ("http://a.example/%41%2d%5F", "http://a.example/A-_"),
        ("http://a.example/a b/ü?q=é", "http://a.example/a%20b/%C3%BC?q=%C3%A9"),
        ("http://a.example/100%", "http://a.example/100%25"),
        # IDN host to punycode
        ("http://Bücher.example/", "http://xn--bcher-kva.example/"),
        ("https://münchen.de/straße", "https://xn--mnchen-3ya.de/stra%C3%9Fe"),
        # AMP paths and mobile hosts are different URLs until the page says otherwise
        (
            "https://www.bbc.co.uk/news/amp/uk-50000000",
            "https://www.bbc.co.uk/news/amp/uk-50000000",
        ),
        ("https://m.example.com/story", "https://m.example.com/story"),
        # FeedBurner redirect links keep their ~r/ and ~3/ segments
        (
            "http://feedproxy.google.com/~r/Reuters/worldNews/~3/AbC123dEf/idUSKBN1XT0AB?utm_source=feedburner",
            "http://feedproxy.google.com/~r/Reuters/worldNews/~3/AbC123dEf/idUSKBN1XT0AB",
        ),
        ("http://feeds.feedburner.com/%7Er/x/%7E3/y", "http://feeds.feedburner.com/~r/x/~3/y"),
        # userinfo survives; surrounding whitespace does not
        ("  https://user@Example.com/x  ", "https://user@example.com/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["not a url", "", "http://[::1/", "mailto:Someone@Example.com"])
def test_canonical_url_is_total(url: str) -> None:
    assert canonical_url(url) == canonical_url(canonical_url(url))


def test_tracking_list_holds_the_usual_names() -> None:
    for name in ("fbclid", "gclid", "mc_eid", "_hsenc", "mkt_tok", "__twitter_impression"):
        assert name in TRACKING_PARAMS
    assert "id" not in TRACKING_PARAMS and "page" not in TRACKING_PARAMS


@pytest.mark.parametrize(
    ("page", "declared", "expected"),
    [
        # no declaration: the canonicalised page URL
        ("https://www.bbc.co.uk/news/x?at_medium=RSS", None, "https://www.bbc.co.uk/news/x"),
        ("https://www.bbc.co.uk/news/x", "  ", "https://www.bbc.co.uk/news/x"),
        # AMP page on the same host declares the normal article
        (
            "https://www.bbc.co.uk/news/amp/uk-50000000",
            "https://www.bbc.co.uk/news/uk-50000000",
            "https://www.bbc.co.uk/news/uk-50000000",
        ),
        # AMP and mobile hosts are siblings of www on the same registrable site
        (
            "https://amp.theguardian.com/world/2024/may/01/story",
            "https://www.theguardian.com/world/2024/may/01/story",
            "https://www.theguardian.com/world/2024/may/01/story",
        ),
        (
            "https://m.example.com/story",
            "https://www.example.com/story",
            "https://www.example.com/story",
        ),
        (
            "https://www.example.com/story",
            "https://example.com/story?utm_source=rss",
            "https://example.com/story",
        ),
        # relative and protocol-relative declarations resolve against the page
        ("https://www.reuters.com/a/b?x=1", "/article/b", "https://www.reuters.com/article/b"),
        ("https://www.reuters.com/a/b", "//www.reuters.com/c", "https://www.reuters.com/c"),
        # another site, a non-http scheme, or the site root is not trusted
        (
            "https://www.bbc.co.uk/news/x",
            "https://evil.co.uk/news/x",
            "https://www.bbc.co.uk/news/x",
        ),
        ("https://blog.example.com/p", "https://example.org/p", "https://blog.example.com/p"),
        ("https://example.com/p", "javascript:alert(1)", "https://example.com/p"),
        ("https://example.com/p", "ftp://example.com/p", "https://example.com/p"),
        ("https://example.com/news/p", "https://example.com/", "https://example.com/news/p"),
        ("https://example.com/", "https://www.example.com/", "https://www.example.com/"),
        # a FeedBurner page URL keeps its own spelling when the declaration is off-site
        (
            "http://feedproxy.google.com/~r/Reuters/worldNews/~3/AbC/x",
            "https://www.reuters.com/article/x",
            "http://feedproxy.google.com/~r/Reuters/worldNews/~3/AbC/x",
        ),
        ("http://127.0.0.1:8000/a", "http://127.0.0.2:8000/b", "http://127.0.0.1:8000/a"),
        ("http://127.0.0.1:8000/a", "/b", "http://127.0.0.1:8000/b"),
    ],
)
def test_choose_canonical(page: str, declared: str | None, expected: str) -> None:
    assert choose_canonical(page, declared) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("www.bbc.co.uk", "m.bbc.co.uk", True),
        ("bbc.co.uk", "www.bbc.co.uk", True),
        ("www.bbc.co.uk", "evil.co.uk", False),
        ("news.example.com", "example.com", True),
        ("example.com", "example.org", False),
        ("www.abc.net.au", "abc.net.au", True),
        ("www.abc.net.au", "xyz.net.au", False),
        ("Example.COM.", "example.com", True),
        ("com", "example.com", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("10.0.0.1", "11.0.0.1", False),
        ("", "", False),
    ],
)
def test_same_site(a: str, b: str, expected: bool) -> None:
    assert same_site(a, b) is expected


def test_url_key_is_sha256_of_canonical_spelling() -> None:
    url = "HTTPS://Example.com:443/a?utm_source=x&b=1#top"
    assert url_key(url) == hashlib.sha256(b"https://example.com/a?b=1").hexdigest()
    assert url_key(url) == url_key("https://example.com/a?b=1")
    assert url_key("https://example.com/a") != url_key("https://example.com/b")


_segment = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#?/"), max_size=8)
_urls = st.builds(
    lambda scheme, host, port, segs, params, frag: (
        f"{scheme}://{host}{port}/{'/'.join(segs)}"
        + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
        + frag
    ),
    st.sampled_from(["http", "HTTPS", "https"]),
    st.sampled_from(["Example.com", "www.bbc.co.uk", "bücher.example", "[::1]", "127.0.0.1"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(_segment, max_size=3),
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "utm_source", "fbclid", "Q", "at_medium"]), _segment),
        max_size=4,
    ),
    st.sampled_from(["", "#x", "#"]),
)


@given(_urls)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(_urls)
def test_canonical_url_has_no_tracking_or_fragment(url: str) -> None:
    parts = urlsplit(canonical_url(url))
    keys = [pair.partition("=")[0].lower() for pair in parts.query.split("&") if pair]
    assert not any(k in TRACKING_PARAMS or k.startswith(("utm_", "at_")) for k in keys)
    assert parts.fragment == ""
    assert parts.scheme == parts.scheme.lower() and parts.netloc == parts.netloc.lower()
