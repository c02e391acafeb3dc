"""Rules engine benchmark: 1,000 / 10,000 / 100,000 generated watchlist rules over the 181 real
articles of the corpus, per-article match time (p50, p99) and compile time.

Baseline, measured in the same run on every 6th article with the same rules: every rule evaluated on its
own with Python `re` (one compiled regex per leaf over the folded text, combined per rule by the
rule's boolean logic; truth only, no hits), as a simple keyword-alert tool would.

The rules are drawn from the corpus's own vocabulary so that some match: single terms, phrases
(real adjacent word pairs), AND/OR of 2-6 terms with NOTs, NEAR/ONEAR, wildcards, and fields
(title:, site:, lang:). Also measured: the presearch step alone with a token set intersection
(used) against a pyahocorasick automaton over the article's folded words.

Times are the measuring thread's CPU time (`time.thread_time`): on a shared machine other
processes preempt the bench, and wall time then measures them too; `--wall` uses
`time.perf_counter` instead (the same figures on an idle machine).

Usage: .venv/bin/python bench/rules.py [CORPUS_DIR] [--quick] [--no-baseline] [--wall]
(--quick: only 1,000 and 10,000 rules; --no-baseline: skip the slow `re` baseline)
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import gzip
import html
import json
import os
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

DEFAULT_CORPUS = (
    Path(
        os.environ.get("WIREWATCH_CORPUS")
        or Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    / "articles"
)
SIZES = (1_000, 10_000, 100_000)
BASELINE_SIZES = (1_000, 10_000)  # the baseline at 100,000 rules takes minutes: not run
BASELINE_EVERY = 6  # the baseline runs on every 6th article (31 of 181): seconds per article
PASSES = 3


class Clock:
    """The clock every timing reads (see the module doc); `--wall` switches it."""

    def __init__(self) -> None:
        self.now: Callable[[], float] = time.thread_time


CLOCK = Clock()
_TITLE_RE = re.compile(r"<title[^>]*>([^<]*)", re.IGNORECASE)
_LANG_RE = re.compile(r"<html[^>]*\slang=[\"']?([A-Za-z_-]+)", re.IGNORECASE)
MAX_SHARE = 0.05
RARE_SHARE = 0.8  # of watchlist words drawn from the rare ones
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
    """Corpus words (3+ letters, not the commonest) by how many articles hold them, word pairs,
    sites.

    `rare`: words in exactly one of the articles, the rarest a 181-article sample can show (a
    watched name or topic is in well under 1% of a real stream; here 1 article is 0.55%).
    `common`: words in 2 to 5% of the articles. Watchlist words are names and topics, so rules
    draw mostly rare words, and some common ones.
    """

    def __init__(self, docs: list[Document]) -> None:
        frequency: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for doc in docs:
            found = words(doc.title + "\n" + doc.body)
            frequency.update(set(found))
            pairs.update(set(pairwise(found)))
        usable = sorted(
            w for w, n in frequency.items() if len(w) >= 3 and w.isalpha() and w not in _STOP
        )
        self.rare = [w for w in usable if frequency[w] == 1]
        self.common = [w for w in usable if 2 <= frequency[w] <= MAX_SHARE * len(docs)]
        self.rare_pairs = sorted(p for p, n in pairs.items() if set(p) & set(self.rare))
        self.common_pairs = sorted(
            p for p, n in pairs.items() if n >= 2 and set(p) <= set(self.common)
        )
        self.sites = sorted({".".join(d.site.split(".")[-2:]) for d in docs if d.site})

    def word(self, rng: random.Random) -> str:
        """A watchlist word: rare with probability RARE_SHARE."""
        return rng.choice(self.rare if rng.random() < RARE_SHARE else self.common)

    def pair(self, rng: random.Random) -> tuple[str, str]:
        return rng.choice(self.rare_pairs if rng.random() < RARE_SHARE else self.common_pairs)

    def any_words(self, rng: random.Random, count: int) -> list[str]:
        """One watchlist word, then others drawn from rare and common alike (AND branches)."""
        return [self.word(rng)] + [
            rng.choice(self.rare if rng.random() < 0.5 else self.common) for _ in range(count - 1)
        ]


def _near_rule(rng: random.Random, vocabulary: Vocabulary) -> str:
    first, second = vocabulary.pair(rng)
    operator = rng.choice(["NEAR", "ONEAR"])
    other = rng.choice([second, vocabulary.word(rng)])
    return f"{first} {operator}/{rng.randint(1, 8)} {other}"


SHAPES: list[tuple[int, str, Callable[[random.Random, Vocabulary], str]]] = [
    (25, "term", lambda r, v: v.word(r)),
    (15, "phrase", lambda r, v: '"{} {}"'.format(*v.pair(r))),
    (15, "AND of 2-4", lambda r, v: " AND ".join(v.any_words(r, r.randint(2, 4)))),
    (
        15,
        "OR of 2-6",
        lambda r, v: "(" + " OR ".join(v.word(r) for _ in range(r.randint(2, 6))) + ")",
    ),
    (8, "a (b OR c) NOT d", lambda r, v: "{} ({} OR {}) NOT {}".format(*v.any_words(r, 4))),
    (8, "NEAR/ONEAR", _near_rule),
    (6, "prefix*", lambda r, v: v.word(r)[: r.randint(4, 6)] + "*"),
    (4, "title:", lambda r, v: f"title:{v.word(r)}"),
    (2, "site: + word", lambda r, v: f"site:{r.choice(v.sites)} {v.word(r)}"),
    (2, "lang:en (a OR b)", lambda r, v: f"lang:en ({v.word(r)} OR {v.word(r)})"),
]


def generate_rules(
    vocabulary: Vocabulary, count: int, seed: int = 7
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """`count` (rule id, query) pairs, and how many rules of each shape."""
    rng = random.Random(seed)
    shapes = [(name, maker) for weight, name, maker in SHAPES for _ in range(weight)]
    rules, mix = [], Counter[str]()
    for i in range(count):
        name, maker = rng.choice(shapes)
        rules.append((f"r{i}", maker(rng, vocabulary)))
        mix[name] += 1
    return rules, dict(mix)


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


def time_engine(
    docs: list[Document], call: Callable[[Document], object]
) -> tuple[list[float], list[object]]:
    """Per article, the best of PASSES sequential passes over the corpus, each starting with an
    empty fold cache: every pass sees the caches a worker would have after the articles before
    it, and the best of three filters out the noise of a shared machine."""
    best = [float("inf")] * len(docs)
    results: list[object] = []
    for _ in range(PASSES):
        fold.cache_clear()
        results = []
        for i, doc in enumerate(docs):
            copy = fresh(doc)
            start = CLOCK.now()
            results.append(call(copy))
            best[i] = min(best[i], (CLOCK.now() - start) * 1000)
    return best, results


def time_baseline(
    rules: list[tuple[str, str]], docs: list[Document]
) -> tuple[dict[str, float], list[float]]:
    matcher = Matcher.compile(rules)  # only to reuse the parsed trees
    start = CLOCK.now()
    checks = [baseline_check(node) for node in matcher.rules.values()]
    compile_s = CLOCK.now() - start
    times, counts = [], []
    for doc in docs:
        begin = CLOCK.now()
        texts = {"title": fold(doc.title), "body": fold(doc.body)}
        matched = sum(1 for check in checks if check(texts, doc))
        times.append((CLOCK.now() - begin) * 1000)
        counts.append(matched)
    figures = {
        "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
        "compile_s": compile_s,
        "matches_per_article": sum(counts) / len(counts),
        "articles": len(docs),
    }
    return figures, times


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
        start = CLOCK.now()
        found_set = keys & copy.words_in("")
        middle = CLOCK.now()
        found_ac = {key for _, key in automaton.iter(joined)}
        end = CLOCK.now()
        set_times.append((middle - start) * 1000)
        ac_times.append((end - middle) * 1000)
        assert found_ac <= found_set
    return {
        "set_p50_ms": percentile(set_times, 0.5),
        "aho_corasick_p50_ms": percentile(ac_times, 0.5),
    }


def tokenise_only(docs: list[Document]) -> dict[str, float]:
    times, _ = time_engine(docs, lambda doc: doc.words_in(""))
    return {"p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)}


def measure(matcher: Matcher, docs: list[Document]) -> dict[str, object]:
    decide, matched = time_engine(docs, matcher.matching)
    explain, _ = time_engine(docs, matcher.match)
    counts = [len(found) for found in matched if isinstance(found, list)]
    return {
        "decide_p50_ms": percentile(decide, 0.5),
        "decide_p99_ms": percentile(decide, 0.99),
        "explain_p50_ms": percentile(explain, 0.5),
        "explain_p99_ms": percentile(explain, 0.99),
        "matches_per_article": sum(counts) / len(docs),
        "articles_with_a_match": sum(1 for n in counts if n) / len(docs),
        "candidates_per_article": sum(len(matcher.candidates(fresh(d))) for d in docs) / len(docs),
    }, decide


def run(docs: list[Document], sizes: tuple[int, ...], skip_baseline: bool) -> dict[str, object]:
    vocabulary = Vocabulary(docs)
    figures: dict[str, object] = {
        "articles": len(docs),
        "tokenise": tokenise_only(docs),
        "vocabulary": {"rare": len(vocabulary.rare), "common": len(vocabulary.common)},
    }
    for size in sizes:
        rules, mix = generate_rules(vocabulary, size)
        start = CLOCK.now()
        matcher = Matcher.compile(rules)
        compile_s = CLOCK.now() - start
        row, decide = measure(matcher, docs)
        row["compile_s"] = compile_s
        if size == 10_000:
            row["shapes"] = mix
            figures["presearch"] = presearch_options(matcher, docs)
        if size in BASELINE_SIZES and not skip_baseline:
            sample = list(range(0, len(docs), BASELINE_EVERY))
            base, _ = time_baseline(rules, [docs[i] for i in sample])
            base["engine_decide_p50_ms_same_articles"] = percentile(
                [decide[i] for i in sample], 0.5
            )
            row["baseline"] = base
        figures[str(size)] = row
    return figures


def print_table(figures: dict[str, object], sizes: tuple[int, ...]) -> None:
    tokenise = figures["tokenise"]
    assert isinstance(tokenise, dict)
    print(
        f"{figures['articles']} articles; tokenising alone p50 {tokenise['p50_ms']:.3f} ms,"
        f" p99 {tokenise['p99_ms']:.3f} ms; vocabulary {figures['vocabulary']}"
    )
    print(
        "rules    decide p50  p99    | +explain p50  p99    | compile  matches/art  cand/art"
        " | re p50   re p99  (articles)  ratio p50"
    )
    for size in sizes:
        row = figures[str(size)]
        assert isinstance(row, dict)
        base = row.get("baseline")
        tail = "(baseline not run)"
        if isinstance(base, dict):
            ratio = base["p50_ms"] / base["engine_decide_p50_ms_same_articles"]
            tail = f"{base['p50_ms']:8.1f} {base['p99_ms']:8.1f} ({base['articles']}) {ratio:8.0f}x"
        print(
            f"{size:<8} {row['decide_p50_ms']:9.3f} {row['decide_p99_ms']:7.3f} |"
            f" {row['explain_p50_ms']:10.3f} {row['explain_p99_ms']:7.3f} |"
            f" {row['compile_s']:6.2f}s {row['matches_per_article']:11.1f}"
            f" {row['candidates_per_article']:9.0f} | {tail}"
        )
    mix = figures.get("10000", {})
    if isinstance(mix, dict) and "shapes" in mix:
        print("rule shapes at 10,000:", ", ".join(f"{k} {v}" for k, v in mix["shapes"].items()))
    presearch = figures.get("presearch")
    if isinstance(presearch, dict):
        print(
            f"presearch at 10,000 rules, p50: set intersection {presearch['set_p50_ms']:.4f} ms,"
            f" Aho-Corasick over folded words {presearch['aho_corasick_p50_ms']:.4f} ms"
        )


def main(argv: list[str]) -> None:
    if "--wall" in argv:
        CLOCK.now = time.perf_counter
    paths = [arg for arg in argv if not arg.startswith("--")]
    sizes = SIZES[:2] if "--quick" in argv else SIZES
    docs = load_articles(Path(paths[0]) if paths else DEFAULT_CORPUS)
    figures = run(docs, sizes, "--no-baseline" in argv)
    print_table(figures, sizes)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
