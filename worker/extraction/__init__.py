"""Extraction stage: page HTML to article text and metadata, and canonical URLs for dedupe."""

from worker.extraction.canonical import canonical_url, choose_canonical, url_key
from worker.extraction.extract import (
    ExtractedPage,
    extract_article,
    text_fingerprint,
    text_from_feed_html,
)

__all__ = [
    "ExtractedPage",
    "canonical_url",
    "choose_canonical",
    "extract_article",
    "text_fingerprint",
    "text_from_feed_html",
    "url_key",
]
