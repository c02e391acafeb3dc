"""Rules engine benchmark: 1,000 / 10,000 / 100,000 generated watchlist rules over the 181 real
articles of the corpus, per-article match time (p50, p99) and compile time.

Baseline, measured in the same run on the same articles and rules: every rule evaluated on its
own with Python `re` (one compiled regex per leaf over the folded text, combined per rule by the
rule's boolean logic; truth only, no hits), as a simple keyword-alert tool would.

The rules are drawn from the corpus's own vocabulary so that some match: single terms, phrases
(real adjacent word pairs), AND/OR of 2-6 terms with NOTs, NEAR/ONEAR, wildcards, and fields
(title:, site:, lang:). Also measured: the presearch step alone with a token set intersection
(used) against a pyahocorasick automaton over the article's folded words.

Usage: .venv/bin/python bench/rules.py [CORPUS_DIR] [--quick] [--no-baseline]
(--quick: only 1,000 and 10,000 rules; --no-baseline: skip the slow `re` baseline)
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import gzip
import html
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import ahocorasick  # type: ignore[import-not-found]  # no stubs published

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.rules import Document, Matcher
from worker.rules.ast import And, AtLeast, Meta, Near, Node, Not, Or, Phrase, Term, near_side
from worker.rules.leaves import lang_matches, site_matches
from worker.rules.text import fold, words

DEFAULT_CORPUS = Path("/work/shared/corpus/articles")
SIZES = (1_000, 10_000, 100_000)
BASELINE_SIZES = (1_000, 10_000)  # the baseline at 100,000 rules takes minutes: not run
_TITLE_RE = re.compile(r"<title[^>]*>([^<]*)", re.IGNORECASE)
_LANG_RE = re.compile(r"<html[^>]*\slang=[\"']?([A-Za-z_-]+)", re.IGNORECASE)
MAX_SHARE = 0.05
_STOP = {"the", "and", "for", "that", "with", "was", "this", "are", "have", "has", "from", "but"}


def load_articles(root: Path) -> list[Document]:
    truth = json.loads((root / "ground-truth.json").read_text())
    docs = []
    for sha, fields in sorted(truth.items()):
        page = gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes())
        head = page[:200_000].decode("utf-8", errors="replace")
        title = _TITLE_RE.search(head)
        lang = _LANG_RE.search(head)
        docs.append(
            Document(
                title=html.unescape(title.group(1)).strip() if title else "",
                body=fields["articleBody"],
                site=urlsplit(fields["url"]).hostname or "",
                lang=lang.group(1) if lang else "",
            )
        )
    return docs


class Vocabulary:
    """Words (3+ letters, in 2+ articles, not the commonest), word pairs and sites of the corpus."""

    def __init__(self, docs: list[Document]) -> None:
        frequency: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for doc in docs:
            found = words(doc.title + "\n" + doc.body)
            frequency.update(set(found))
            pairs.update(set(pairwise(found)))
        self.words = sorted(
            w for w, n in frequency.items() if n >= 2 and len(w) >= 3 and w.isalpha()
        )
        # Watchlist words are specific: at most MAX_SHARE of the articles contain each one.
        self.words = [
            w for w in self.words if w not in _STOP and frequency[w] <= MAX_SHARE * len(docs)
        ]
        known = set(self.words)
        self.pairs = sorted(p for p, n in pairs.items() if n >= 2 and set(p) & known)
        self.sites = sorted({".".join(d.site.split(".")[-2:]) for d in docs if d.site})


def generate_rules(vocabulary: Vocabulary, count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    shapes: list[tuple[int, Callable[[random.Random, Vocabulary], str]]] = [
        (25, lambda r, v: r.choice(v.words)),
        (15, lambda r, v: '"{} {}"'.format(*r.choice(v.pairs))),
        (15, lambda r, v: " AND ".join(r.sample(v.words, r.randint(2, 4)))),
        (15, lambda r, v: "(" + " OR ".join(r.sample(v.words, r.randint(2, 6))) + ")"),
        (8, lambda r, v: "{} ({} OR {}) NOT {}".format(*r.sample(v.words, 4))),
        (8, _near_rule),
        (6, lambda r, v: r.choice(v.words)[: r.randint(4, 6)] + "*"),
        (4, lambda r, v: f"title:{r.choice(v.words)}"),
        (2, lambda r, v: f"site:{r.choice(v.sites)} {r.choice(v.words)}"),
        (2, lambda r, v: f"lang:en ({r.choice(v.words)} OR {r.choice(v.words)})"),
    ]
    makers = [maker for weight, maker in shapes for _ in range(weight)]
    return [(f"r{i}", rng.choice(makers)(rng, vocabulary)) for i in range(count)]


def _near_rule(rng: random.Random, vocabulary: Vocabulary) -> str:
    first, second = rng.choice(vocabulary.pairs)
    operator = rng.choice(["NEAR", "ONEAR"])
    other = rng.choice([second, rng.choice(vocabulary.words)])
    return f"{first} {operator}/{rng.randint(1, 8)} {other}"


# The baseline: regexes per leaf over folded text, boolean logic per rule.

RegexCheck = Callable[[dict[str, str], Document], bool]
_GAP = r"[\W_]+"


def _leaf_pattern(leaf: Term | Phrase) -> str:
    if isinstance(leaf, Term):
        body = re.escape(leaf.word).replace(r"\*", r"[^\W_]*").replace(r"\?", r"[^\W_]")
    else:
        body = _GAP.join(map(re.escape, leaf.words))
    return rf"(?<![^\W_]){body}(?![^\W_])"


def baseline_check(node: Node) -> RegexCheck:
    if isinstance(node, Term | Phrase):
        regex = re.compile(_leaf_pattern(node))
        fields = (node.field,) if node.field else ("title", "body")
        return lambda texts, doc: any(regex.search(texts[f]) for f in fields)
    if isinstance(node, Meta):
        test = site_matches if node.field == "site" else lang_matches
        attribute = node.field
        return lambda texts, doc: test(node.value, getattr(doc, attribute))
    if isinstance(node, Near):
        return _baseline_near(node)
    if isinstance(node, Not):
        inner = baseline_check(node.child)
        return lambda texts, doc: not inner(texts, doc)
    if isinstance(node, AtLeast):
        raise ValueError("not generated")
    checks = [baseline_check(child) for child in node.children]
    if isinstance(node, And):
        return lambda texts, doc: all(check(texts, doc) for check in checks)
    assert isinstance(node, Or)
    return lambda texts, doc: any(check(texts, doc) for check in checks)


def _baseline_near(node: Near) -> RegexCheck:
    left = "(?:" + "|".join(_leaf_pattern(leaf) for leaf in near_side(node.left)) + ")"
    right = "(?:" + "|".join(_leaf_pattern(leaf) for leaf in near_side(node.right)) + ")"
    between = rf"{_GAP}(?:[^\W_]+{_GAP}){{0,{node.distance}}}"
    pattern = left + between + right
    if not node.ordered:
        pattern += "|" + right + between + left
    regex = re.compile(pattern)
    return lambda texts, doc: any(regex.search(texts[f]) for f in ("title", "body"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fresh(doc: Document) -> Document:
    """A copy without cached tokens, so every timing includes tokenising the article."""
    return Document(doc.title, doc.body, doc.site, doc.feed, doc.author, doc.lang)


def time_engine(matcher: Matcher, docs: list[Document]) -> tuple[list[float], list[int]]:
    for doc in docs[:20]:
        matcher.match(fresh(doc))  # warm-up: fold cache, regex caches
    times, counts = [], []
    for doc in docs:
        copy = fresh(doc)
        start = time.perf_counter()
        result = matcher.match(copy)
        times.append((time.perf_counter() - start) * 1000)
        counts.append(len(result))
    return times, counts


def time_baseline(rules: list[tuple[str, str]], docs: list[Document]) -> dict[str, float]:
    matcher = Matcher.compile(rules)  # only to reuse the parsed trees
    start = time.perf_counter()
    checks = [baseline_check(node) for node in matcher.rules.values()]
    compile_s = time.perf_counter() - start
    times, counts = [], []
    for doc in docs:
        begin = time.perf_counter()
        texts = {"title": fold(doc.title), "body": fold(doc.body)}
        matched = sum(1 for check in checks if check(texts, doc))
        times.append((time.perf_counter() - begin) * 1000)
        counts.append(matched)
    return {
        "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
        "compile_s": compile_s,
        "matches_per_article": sum(counts) / len(counts),
    }


def presearch_options(matcher: Matcher, docs: list[Document]) -> dict[str, float]:
    """Per-article time of finding the index keys present in a tokenised article."""
    keys = set(matcher._presearch.words)  # the benchmark compares internals
    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(f" {key} ", key)
    automaton.make_automaton()
    set_times, ac_times = [], []
    for doc in docs:
        copy = fresh(doc)
        copy.words_in("")
        joined = " " + " ".join(copy.sections()[1].field_index.words) + " "
        start = time.perf_counter()
        found_set = keys & copy.words_in("")
        middle = time.perf_counter()
        found_ac = {key for _, key in automaton.iter(joined)}
        end = time.perf_counter()
        set_times.append((middle - start) * 1000)
        ac_times.append((end - middle) * 1000)
        assert found_ac <= found_set
    return {
        "set_p50_ms": percentile(set_times, 0.5),
        "aho_corasick_p50_ms": percentile(ac_times, 0.5),
    }


def tokenise_only(docs: list[Document]) -> float:
    times = []
    for doc in docs:
        copy = fresh(doc)
        start = time.perf_counter()
        copy.words_in("")
        times.append((time.perf_counter() - start) * 1000)
    return percentile(times, 0.5)


def run(docs: list[Document], sizes: tuple[int, ...], skip_baseline: bool) -> dict[str, object]:
    vocabulary = Vocabulary(docs)
    figures: dict[str, object] = {"articles": len(docs), "tokenise_p50_ms": tokenise_only(docs)}
    for size in sizes:
        rules = generate_rules(vocabulary, size)
        start = time.perf_counter()
        matcher = Matcher.compile(rules)
        compile_s = time.perf_counter() - start
        times, counts = time_engine(matcher, docs)
        row: dict[str, object] = {
            "p50_ms": percentile(times, 0.5),
            "p99_ms": percentile(times, 0.99),
            "compile_s": compile_s,
            "matches_per_article": sum(counts) / len(counts),
            "candidates_per_article": sum(len(matcher.candidates(fresh(d))) for d in docs)
            / len(docs),
        }
        if size in BASELINE_SIZES and not skip_baseline:
            row["baseline"] = time_baseline(rules, docs)
        if size == 10_000:
            figures["presearch"] = presearch_options(matcher, docs)
        figures[str(size)] = row
    return figures


def print_table(figures: dict[str, object], sizes: tuple[int, ...]) -> None:
    print(
        f"{figures['articles']} articles; tokenising alone p50 {figures['tokenise_p50_ms']:.3f} ms"
    )
    header = (
        "rules    engine p50  p99     compile  matches/art cand/art | re p50   re p99   ratio p50"
    )
    print(header)
    for size in sizes:
        row = figures[str(size)]
        assert isinstance(row, dict)
        base = row.get("baseline")
        tail = "(baseline not run)"
        if isinstance(base, dict):
            ratio = base["p50_ms"] / row["p50_ms"]
            tail = f"{base['p50_ms']:8.2f} {base['p99_ms']:8.2f} {ratio:8.0f}x"
        print(
            f"{size:<8} {row['p50_ms']:9.3f} {row['p99_ms']:7.3f} {row['compile_s']:7.2f}s"
            f" {row['matches_per_article']:11.1f} {row['candidates_per_article']:8.0f} | {tail}"
        )
    presearch = figures.get("presearch")
    if isinstance(presearch, dict):
        print(
            f"presearch at 10,000 rules, p50: set intersection {presearch['set_p50_ms']:.4f} ms,"
            f" Aho-Corasick over folded words {presearch['aho_corasick_p50_ms']:.4f} ms"
        )


def main(argv: list[str]) -> None:
    paths = [arg for arg in argv if not arg.startswith("--")]
    sizes = SIZES[:2] if "--quick" in argv else SIZES
    docs = load_articles(Path(paths[0]) if paths else DEFAULT_CORPUS)
    figures = run(docs, sizes, "--no-baseline" in argv)
    print_table(figures, sizes)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
