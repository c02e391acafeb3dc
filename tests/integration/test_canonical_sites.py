"""Sites by the Public Suffix List: a tenant of a shared host cannot claim another's canonical URL,
and the list comes from the package's snapshot with no network access."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from worker.extraction.canonical import choose_canonical, registrable_domain, same_site


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("foo.github.io", "bar.github.io", False),  # private section: shared hosting
        ("www.foo.github.io", "foo.github.io", True),
        ("alice.blogspot.com", "bob.blogspot.com", False),
        ("www.amazon.co.jp", "amazon.co.jp", True),
        ("www.amazon.co.jp", "evil.co.jp", False),
        ("city.kawasaki.jp", "other.kawasaki.jp", False),  # wildcard rule *.kawasaki.jp
        ("news.bbc.co.uk", "bbc.co.uk", True),
        ("github.io", "foo.github.io", False),  # a public suffix is no one's site
    ],
)
def test_same_site_follows_the_public_suffix_list(a: str, b: str, expected: bool) -> None:
    assert same_site(a, b) is expected


def test_registrable_domain_is_the_suffix_plus_one_label() -> None:
    assert registrable_domain("a.b.foo.github.io") == "foo.github.io"
    assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("co.uk") is None


def test_a_tenant_of_github_io_cannot_claim_anothers_canonical_url() -> None:
    page = "https://foo.github.io/post"
    assert choose_canonical(page, "https://bar.github.io/post") == page
    assert choose_canonical(page, "https://foo.github.io/post/") == "https://foo.github.io/post/"


_NO_NETWORK = """
import json, sys
from worker.extraction import canonical  # other imports (urllib3) probe IPv6 locally: not watched
assert canonical._suffix_list.cache_info().currsize == 0, "the list loads at first use"
events = []
def watch(event, args):
    if event.startswith(("socket.", "urllib.")) or event == "http.client.connect":
        events.append(event)
sys.addaudithook(watch)
verdicts = [canonical.same_site("foo.github.io", "bar.github.io"),
            canonical.same_site("www.bbc.co.uk", "bbc.co.uk")]
print(json.dumps({"verdicts": verdicts, "events": events}))
"""


def test_the_suffix_list_is_loaded_without_any_network_access() -> None:
    """A fresh interpreter with an audit hook: loading and using the list opens no socket,
    resolves no name and builds no URL request (the list is the package's snapshot)."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    assert report == {"verdicts": [False, True], "events": []}
