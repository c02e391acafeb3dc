"""Article extraction on real corpus pages and on hand-made pages (charsets, language, errors)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from typing import Any

import pytest
from trafilatura import bare_extraction, load_html

from tests.support.corpus import require_corpus
from worker.errors import ExtractionError
from worker.extraction import ExtractedPage, extract_article
from worker.extraction.decode import decode_html, sniff_meta_charset
from worker.extraction.extract import primary_language
from worker.extraction.metadata import Wanted
from worker.extraction.scoring import token_f1

GERMAN = (
    "Die Bundesregierung hat am Dienstag neue Maßnahmen für die Energieversorgung beschlossen. "
    "Größere Städte sollen bis zum Frühjahr zusätzliche Wärmepumpen erhalten, heißt es. "
    "Kritiker äußerten Zweifel an der Finanzierung und forderten schnellere Lösungen."
)
RUSSIAN = (
    "Правительство во вторник утвердило новые меры по развитию энергетики в регионах страны. "
    "Крупные города должны получить дополнительные тепловые насосы уже к весне следующего года. "
    "Критики выразили сомнения в финансировании и потребовали более быстрых решений."
)


def page(text: str, *, head: str = "", html_attrs: str = "") -> str:
    """A plausible article page around `text` (trafilatura wants a real document)."""
    paragraphs = "".join(f"<p>{sentence}.</p>" for sentence in text.split(". "))
    return (
        f"<!DOCTYPE html><html{html_attrs}><head>{head}<title>Eine Nachricht</title></head>"
        f"<body><nav><a href='/'>Start</a></nav><article><h1>Eine Nachricht</h1>{paragraphs}"
        f"</article><footer>Impressum</footer></body></html>"
    )


def _ground_truth() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(
        (require_corpus("articles") / "ground-truth.json").read_text()
    )
    return data


# A handful of corpus pages across scripts and CMSes: (sha256, site, language)
CORPUS_PAGES = [
    ("1ace8c85aaee21b9d4505eca506d50c4721c29db62848b567a9703bfe0583892", "techcrunch.com", "en"),
    ("374ac9a59a85196cdacc1679fb8993521a7b7d9d6533720f102300be1c7face4", "cnbc.com", "en"),
    ("c82b3d1d540bbbd6081bdfb78b4c068c583aa766bcaaefe7ad16d24e5413a829", "wday.ru", "ru"),
    ("85439e26c41c75901820d01a13e8cea7836abb58635ea3986f71a163ab0311d3", "lhpat-tm.com", "ja"),
    ("e372e42c0a3df7b86e1c0bacf7bc14d042144a01e88833bc5a643d61b3547090", "jpost.com", ""),
]


@pytest.mark.parametrize(("sha", "site", "language"), CORPUS_PAGES)
def test_corpus_page_text_matches_ground_truth(sha: str, site: str, language: str) -> None:
    truth = _ground_truth()[sha]
    html = gzip.decompress((require_corpus("articles") / "html" / f"{sha}.html.gz").read_bytes())
    result = extract_article(html, truth["url"])
    assert result.title.strip()
    assert token_f1(result.text, truth["articleBody"]) >= 0.8
    assert result.site == site
    assert result.language == language
    assert result.published_at[:2] in ("20", "")


@pytest.mark.parametrize("sha", [sha for sha, _, _ in CORPUS_PAGES])
def test_corpus_page_metadata_is_trafilaturas_and_asked_only_when_wanted(sha: str) -> None:
    """The metadata the worker computes itself (worker/extraction/metadata.py) is what
    trafilatura's full metadata pass gives; fields not wanted are not looked for."""
    truth = _ground_truth()[sha]
    html = gzip.decompress((require_corpus("articles") / "html" / f"{sha}.html.gz").read_bytes())
    tree = load_html(decode_html(html, None))
    full = bare_extraction(tree, url=truth["url"], with_metadata=True, fast=True).as_dict()
    result = extract_article(html, truth["url"])
    assert (result.title, result.author, result.published_at, result.text) == (
        (full["title"] or "").strip(),
        (full["author"] or "").strip(),
        full["date"] or "",
        full["text"].strip(),
    )
    bare = extract_article(html, truth["url"], wanted=Wanted(title=False, author=False, date=False))
    assert (bare.title, bare.author, bare.published_at, bare.published_time) == ("", "", "", "")
    assert (bare.text, bare.canonical_url, bare.language) == (
        result.text,
        result.canonical_url,
        result.language,
    )


def test_corpus_page_declared_canonical_wins_over_fetched_url() -> None:
    sha = "c82b3d1d540bbbd6081bdfb78b4c068c583aa766bcaaefe7ad16d24e5413a829"
    truth = _ground_truth()[sha]
    html = gzip.decompress((require_corpus("articles") / "html" / f"{sha}.html.gz").read_bytes())
    result = extract_article(html, truth["url"])
    assert truth["url"].startswith("http://www.wday.ru/articles/")
    assert result.canonical_url == (
        "https://www.wday.ru/krasota-zdorovie/novosty/"
        "53-letnyaya-model-posmotri-na-krasotku-kotoraya-prevratilas-v-staruhu/"
    )


def test_metadata_of_a_handmade_page() -> None:
    head = (
        '<meta name="author" content="Erika Mustermann">'
        '<meta property="article:published_time" content="2024-03-05T08:00:00+01:00">'
    )
    result = extract_article(page(GERMAN, head=head), "https://www.example.de/politik/a-1")
    assert result == ExtractedPage(
        title="Eine Nachricht",
        text=result.text,
        author="Erika Mustermann",
        published_at="2024-03-05",
        language="",
        canonical_url="https://www.example.de/politik/a-1",
        site="example.de",
        published_time="2024-03-05T07:00:00Z",
    )
    assert "Wärmepumpen" in result.text and "Impressum" not in result.text
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.title = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("head", "html_attrs", "expected"),
    [
        ("", ' lang="de-DE"', "de"),
        ("", ' xml:lang="de"', "de"),
        ('<meta property="og:locale" content="pt_BR">', "", "pt"),
        ('<meta http-equiv="Content-Language" content="fr-CA, en">', "", "fr"),
        ('<meta property="og:locale" content="pt_BR">', ' lang="de"', "de"),
        ("", ' lang=""', ""),
        ("", "", ""),
    ],
)
def test_language_from_page_declarations(head: str, html_attrs: str, expected: str) -> None:
    result = extract_article(page(GERMAN, head=head, html_attrs=html_attrs), "https://e.de/a")
    assert result.language == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de-DE", "de"),
        ("en_GB", "en"),
        ("EN", "en"),
        (" fr ", "fr"),
        ("zh-Hant-TW", "zh"),
        ("fil", "fil"),
        ("en-US, de", "en"),
        ("english", ""),
        ("x", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_primary_language(tag: str | None, expected: str) -> None:
    assert primary_language(tag) == expected


AMP_URL = "https://www.example.de/amp/politik/a-1"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="/politik/a-1">', "https://www.example.de/politik/a-1"),
        (
            '<link rel="Canonical" href="https://example.de/politik/a-1?utm_medium=x">',
            "https://example.de/politik/a-1",
        ),
        ('<meta property="og:url" content="https://m.example.de/a-1">', "https://m.example.de/a-1"),
        (
            '<meta property="og:url" content="/og"><link rel="alternate canonical" href="/link">',
            "https://www.example.de/link",
        ),
        ('<link rel="canonical" href="https://andere-seite.de/a-1">', AMP_URL),
        ('<link rel="canonical" href="">', AMP_URL),
        ("", AMP_URL),
    ],
)
def test_canonical_url_from_the_page(head: str, expected: str) -> None:
    result = extract_article(page(GERMAN, head=head), AMP_URL + "?utm_source=rss")
    assert result.canonical_url == expected


def test_latin1_page_decoded_with_its_meta_charset() -> None:
    html = page(GERMAN, head='<meta charset="iso-8859-1">').encode("iso-8859-1")
    result = extract_article(html, "https://example.de/a")
    assert "Größere Städte" in result.text and "\ufffd" not in result.text


def test_cp1251_page_decoded_with_http_equiv_charset() -> None:
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
    result = extract_article(page(RUSSIAN, head=head).encode("cp1251"), "https://example.ru/a")
    assert "тепловые насосы" in result.text


def test_transport_charset_outranks_a_wrong_meta_charset() -> None:
    html = page(RUSSIAN, head='<meta charset="iso-8859-1">').encode("koi8-r")
    result = extract_article(html, "https://example.ru/a", transport_charset="KOI8-R")
    assert "тепловые насосы" in result.text


@pytest.mark.parametrize(
    ("data", "transport", "expected"),
    [
        ("\ufeffÄ".encode(), None, "Ä"),
        ("\ufeffÄ".encode("utf-16-le"), None, "Ä"),
        # the server's word is taken when it decodes; latin-1 is read as windows-1252 (WHATWG)
        ("Ä".encode(), "iso-8859-1", "Ã„"),
        (b"<meta charset=latin1>\x93quoted\x94", None, "<meta charset=latin1>“quoted”"),
        (b"<meta charset=utf-8>caf\xe9", None, "<meta charset=utf-8>café"),  # wrong meta
        (b"<meta charset=bogus>caf\xc3\xa9", "nonsense", "<meta charset=bogus>café"),
    ],
)
def test_decode_html(data: bytes, transport: str | None, expected: str) -> None:
    assert decode_html(data, transport) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'<meta charset="UTF-8">', "UTF-8"),
        (b"<META HTTP-EQUIV='content-type' CONTENT='text/html; charset=Shift_JIS'>", "Shift_JIS"),
        (b"<meta name=viewport content=width=device-width>", None),
        (b" " * 5000 + b"<meta charset=utf-8>", None),
    ],
)
def test_sniff_meta_charset(data: bytes, expected: str | None) -> None:
    assert sniff_meta_charset(data) == expected


@pytest.mark.parametrize(
    "html",
    [
        b"",
        "   \n ",
        b"\x00\x01\x02\xff\xfe binary garbage \x00",
        "just a line of plain text, not a page",
        b'{"json": "is not html"}',
        "<html><head><title>t</title></head><body></body></html>",
        "<html><body><script>var text = 'not article text';</script></body></html>",
        "<html><body><p>  ...  --  </p></body></html>",
    ],
)
def test_pages_without_text_raise_extraction_error(html: bytes | str) -> None:
    with pytest.raises(ExtractionError):
        extract_article(html, "https://example.com/a")


def test_undeclared_cp1251_page_is_detected() -> None:
    html = page(RUSSIAN * 3, html_attrs=' lang="ru"').encode("cp1251")
    result = extract_article(html, "https://example.ru/a")
    assert "тепловые насосы" in result.text and result.language == "ru"
