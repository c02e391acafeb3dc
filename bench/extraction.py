"""Extraction benchmark: quality (token F1 vs ground truth) and speed over the article corpus.

Baseline, measured in the same run on the same pages: `lxml.html.fromstring(html).text_content()`,
the cheapest way to get "the text of a page" (all of it, boilerplate included).

Usage: .venv/bin/python bench/extraction.py [CORPUS_DIR]   (default ../shared/corpus/articles, or $WIREWATCH_CORPUS/articles)
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.errors import ExtractionError
from worker.extraction import extract_article
from worker.extraction.scoring import token_f1

DEFAULT_CORPUS = (
    Path(
        os.environ.get("WIREWATCH_CORPUS")
        or Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    / "articles"
)


def load_corpus(root: Path) -> list[tuple[str, bytes, str]]:
    """(url, html bytes, ground-truth body) for every page with ground truth."""
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for sha, fields in sorted(truth.items()):
        html = gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes())
        pages.append((fields["url"], html, fields["articleBody"]))
    return pages


def timed(func: Callable[[], str]) -> tuple[str | None, float]:
    """Run `func`; its text (None if extraction failed) and the elapsed milliseconds."""
    start = time.perf_counter()
    try:
        text: str | None = func()
    except ExtractionError:
        text = None
    return text, (time.perf_counter() - start) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(pages: list[tuple[str, bytes, str]]) -> dict[str, float | int]:
    url, html, _ = pages[0]
    extract_article(html, url)  # warm-up: trafilatura builds its caches on first use
    f1s, base_f1s, times, base_times, failures = [], [], [], [], 0
    for url, html, body in pages:
        text, ms = timed(lambda u=url, h=html: extract_article(h, u).text)  # type: ignore[misc]
        base, base_ms = timed(lambda h=html: lxml.html.fromstring(h).text_content())  # type: ignore[misc]
        failures += text is None
        f1s.append(token_f1(text or "", body))
        base_f1s.append(token_f1(base or "", body))
        times.append(ms)
        base_times.append(base_ms)
    return {
        "pages": len(pages),
        "failures": failures,
        "f1_mean": round(statistics.mean(f1s), 4),
        "f1_median": round(statistics.median(f1s), 4),
        "f1_min": round(min(f1s), 4),
        "baseline_f1_mean": round(statistics.mean(base_f1s), 4),
        "baseline_f1_median": round(statistics.median(base_f1s), 4),
        "extract_ms_p50": round(percentile(times, 0.5), 2),
        "extract_ms_p99": round(percentile(times, 0.99), 2),
        "baseline_ms_p50": round(percentile(base_times, 0.5), 2),
        "baseline_ms_p99": round(percentile(base_times, 0.99), 2),
        "time_ratio_p50": round(percentile(times, 0.5) / percentile(base_times, 0.5), 1),
        "time_ratio_total": round(sum(times) / sum(base_times), 1),
    }


def report(figures: dict[str, float | int]) -> None:
    rows = [
        ("token F1 mean", "f1_mean", "baseline_f1_mean"),
        ("token F1 median", "f1_median", "baseline_f1_median"),
        ("time per page p50 (ms)", "extract_ms_p50", "baseline_ms_p50"),
        ("time per page p99 (ms)", "extract_ms_p99", "baseline_ms_p99"),
    ]
    print(f"{figures['pages']} pages, {figures['failures']} extraction failures")
    print(f"{'measure':<26}{'extract_article':>16}{'lxml text_content':>19}")
    for name, ours, theirs in rows:
        print(f"{name:<26}{figures[ours]!s:>16}{figures[theirs]!s:>19}")
    print(f"{'token F1 min':<26}{figures['f1_min']!s:>16}")
    print(
        f"time ratio extract/baseline: p50 {figures['time_ratio_p50']}x, "
        f"total {figures['time_ratio_total']}x"
    )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    report(run(load_corpus(corpus)))
