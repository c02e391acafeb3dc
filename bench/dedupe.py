"""Near-duplicate benchmark: quality on a labelled set of real bodies, index speed and memory.

Quality: positives are syndication-style variants of each of the corpus's 181 real article bodies
(`ground-truth.json`); negatives are every pair of different real articles, and apart from those
the 200 pairs sharing the most words (word-set Jaccard), i.e. different articles on one subject.
"Same story" is the decision StoryIndex makes: at least `min_agreeing_bins` of 16 MinHash bins
agree. Baseline in the same run: 64-bit SimHash over the same shingles, Hamming distance <= 3.

Speed and memory: N articles (default 1,000,000) with synthetic fingerprints, 30% of them copies
of an earlier story, spread over the 7-day window, are put through the real assign script
(pipelined) into a Redis (by default an embedded server of its own; with --redis, under a key
prefix of its own, deleted afterwards, and used_memory then counts others' writes too); then
lookup-and-insert latency of single assigns, and used_memory per article. Fingerprinting time is set beside trafilatura's extraction of the corpus pages.

Usage: .venv/bin/python bench/dedupe.py [--articles N] [--redis URL]
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The index figures here are the 16-bin design's (kept in bench/stories_legacy.py); the current
# index (bands + representatives) is measured beside it by bench/stories_stream.py.
from bench.benchredis import bench_redis
from bench.stories_legacy import (
    StoryAssignment,
    StoryIndex,
    bin_entries,
    member_entry,
    slot_ttl_ms,
    slots_to_search,
    story_id,
)
from worker.dedupe.fingerprint import (
    BINS,
    Fingerprint,
    article_fingerprint,
    fingerprint,
    shingle_hashes,
    words,
)
from worker.dedupe.settings import DedupeConfig
from worker.extraction import extract_article
from worker.queue.keys import Keys

CORPUS = (
    Path(
        os.environ.get("WIREWATCH_CORPUS")
        or Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    / "articles"
)
CONFIG = DedupeConfig()
SAME_SUBJECT_PAIRS = 200
SIMHASH_K = 3

Variant = Callable[[str, random.Random, list[str]], str]


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def first_words(text: str, fraction: float) -> str:
    tokens = text.split(" ")
    return " ".join(tokens[: max(1, int(len(tokens) * fraction))])


def boilerplate(text: str, rng: random.Random, others: list[str]) -> str:
    """Another site's page furniture around the text, with teasers of three other stories."""
    teasers = [first_words(paragraphs(o)[0], 0.3) for o in rng.sample(others, 3)]
    head = "Skip to main content\nHome | World | Business | Sport | Opinion\nAdvertisement\n"
    foot = "\nRelated stories\n" + "\n".join(teasers)
    foot += "\nShare this article: Facebook Twitter Email\n© 2019 The Daily Example. All rights."
    return head + text + foot


def new_headline(text: str, rng: random.Random, others: list[str]) -> str:
    return first_words(paragraphs(rng.choice(others))[0], 0.15) + "\n" + text


def drop_paragraph(text: str, rng: random.Random, others: list[str]) -> str:
    parts = paragraphs(text)
    if len(parts) < 3:  # one-block bodies: drop a sentence's worth (a tenth) from the end instead
        return first_words(text, 0.9)
    i = rng.randrange(1, len(parts))
    return "\n".join(parts[:i] + parts[i + 1 :])


def add_paragraph(text: str, rng: random.Random, others: list[str]) -> str:
    """A background paragraph from another article inserted at a random place."""
    parts, extra = paragraphs(text), paragraphs(rng.choice(others))[0]
    i = rng.randrange(0, len(parts) + 1)
    return "\n".join([*parts[:i], extra, *parts[i:]])


def editors_note(text: str, rng: random.Random, others: list[str]) -> str:
    note = (
        "Editor's note: This story has been updated to correct the spelling of a name and "
        "to add a statement released on Tuesday afternoon."
    )
    return note + "\n" + text + "\n(Reporting by Jane Doe; Editing by John Smith)"


VARIANTS: dict[str, Variant] = {
    "boilerplate around": boilerplate,
    "changed headline": new_headline,
    "paragraph dropped": drop_paragraph,
    "paragraph added": add_paragraph,
    "editor's note": editors_note,
    "shortened to 2/3": lambda text, rng, others: first_words(text, 2 / 3),
    "shortened to 1/2": lambda text, rng, others: first_words(text, 1 / 2),
}


def load_bodies() -> list[str]:
    truth = json.loads((CORPUS / "ground-truth.json").read_text())
    return [fields["articleBody"] for _, fields in sorted(truth.items())]


def simhash(text: str) -> int:
    weights = [0] * 64
    for h in shingle_hashes(words(text)):
        for bit in range(64):
            weights[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def same_subject_pairs(bodies: list[str]) -> list[tuple[int, int]]:
    sets = [set(words(b)) for b in bodies]
    scored = [
        (len(sets[i] & sets[j]) / len(sets[i] | sets[j]), i, j)
        for i, j in itertools.combinations(range(len(bodies)), 2)
    ]
    return [(i, j) for _, i, j in sorted(scored, reverse=True)[:SAME_SUBJECT_PAIRS]]


def quality(bodies: list[str]) -> dict[str, dict[str, float]]:
    """Per variant kind: recall; per negative kind: false positives; for MinHash and SimHash."""
    rng, need = random.Random(20240501), CONFIG.min_agreeing_bins
    mins = [fingerprint(b) for b in bodies]
    sims = [simhash(b) for b in bodies]
    ours: Callable[[int, str], bool] = lambda i, t: mins[i].agreement(fingerprint(t)) >= need  # noqa: E731
    base: Callable[[int, str], bool] = lambda i, t: (sims[i] ^ simhash(t)).bit_count() <= SIMHASH_K  # noqa: E731
    rows: dict[str, dict[str, float]] = {}
    for name, make in VARIANTS.items():
        others = [[o for o in bodies if o is not b] for b in bodies]
        texts = [make(b, rng, others[i]) for i, b in enumerate(bodies)]
        rows[name] = {
            "positives": len(texts),
            "minhash_hits": sum(ours(i, t) for i, t in enumerate(texts)),
            "simhash_hits": sum(base(i, t) for i, t in enumerate(texts)),
        }
    pairs = {
        "different articles (all pairs)": list(itertools.combinations(range(len(bodies)), 2)),
        "same subject (top word overlap)": same_subject_pairs(bodies),
    }
    for name, chosen in pairs.items():
        rows[name] = {
            "negatives": len(chosen),
            "minhash_hits": sum(mins[i].agreement(mins[j]) >= need for i, j in chosen),
            "simhash_hits": sum((sims[i] ^ sims[j]).bit_count() <= SIMHASH_K for i, j in chosen),
        }
    return rows


def precision_recall(rows: dict[str, dict[str, float]], method: str) -> dict[str, float]:
    """Overall and per-kind figures; a kind's precision charges it with every false positive."""
    fp = rows["different articles (all pairs)"][f"{method}_hits"]
    fp += rows["same subject (top word overlap)"][f"{method}_hits"]
    out, tp_all, pos_all = {}, 0.0, 0.0
    for name in VARIANTS:
        tp, pos = rows[name][f"{method}_hits"], rows[name]["positives"]
        out[f"{method}_recall[{name}]"] = round(tp / pos, 4)
        out[f"{method}_precision[{name}]"] = round(tp / (tp + fp), 4) if tp + fp else 1.0
        tp_all, pos_all = tp_all + tp, pos_all + pos
    out[f"{method}_recall"] = round(tp_all / pos_all, 4)
    out[f"{method}_precision"] = round(tp_all / (tp_all + fp), 4)
    out[f"{method}_false_positives"] = fp
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def speed_vs_extraction() -> dict[str, float]:
    """Per corpus page: trafilatura extraction time, and fingerprinting its extracted text."""
    truth = json.loads((CORPUS / "ground-truth.json").read_text())
    extract_ms, print_ms, ratios = [], [], []
    for sha, fields in sorted(truth.items()):
        html = gzip.decompress((CORPUS / "html" / f"{sha}.html.gz").read_bytes())
        start = time.perf_counter()
        page = extract_article(html, fields["url"])
        middle = time.perf_counter()
        article_fingerprint(page.text, page.title)
        end = time.perf_counter()
        extract_ms.append((middle - start) * 1000)
        print_ms.append((end - middle) * 1000)
        ratios.append((end - middle) / (middle - start))
    return {
        "extract_ms_p50": round(percentile(extract_ms, 0.5), 3),
        "fingerprint_ms_p50": round(percentile(print_ms, 0.5), 3),
        "fingerprint_ms_p99": round(percentile(print_ms, 0.99), 3),
        "fingerprint_to_extract_p50": round(percentile(ratios, 0.5), 4),
        "fingerprint_to_extract_total": round(sum(print_ms) / sum(extract_ms), 4),
    }


def synthetic(
    rng: random.Random, recent: list[tuple[Fingerprint, int]], next_story: int
) -> tuple[Fingerprint, int]:
    """A fresh article opening story `next_story`, or (30%) a copy of a recent one: its story,
    agreeing on 12 of its 16 bins."""
    if recent and rng.random() < 0.3:
        original, story = rng.choice(recent)
        bins = dict(original.bins)
        for b in rng.sample(range(BINS), 4):
            bins[b] = rng.getrandbits(60)
        return Fingerprint(bins), story
    fp = Fingerprint({b: rng.getrandbits(60) for b in range(BINS)})
    recent.append((fp, next_story))
    if len(recent) > 1000:
        recent.pop(0)
    return fp, next_story


def entries_of(
    key: str, fp: Fingerprint, story: int, count: int, now: float, keys: Keys
) -> list[tuple[str, bytes | str, int]]:
    """(hash, field, value) the assign script writes for one article (see worker/dedupe/stories)."""
    slot = slots_to_search(now, CONFIG)[0]
    small = CONFIG.index_buckets // 16
    bucket, digest = member_entry(key, small)
    out: list[tuple[str, bytes | str, int]] = [(keys.story_members(slot, bucket), digest, story)]
    out += [(keys.story_bins(slot, b), f, story) for b, f in bin_entries(fp, CONFIG.index_buckets)]
    out.append((keys.story_counts(slot, story % small), str(story), count))
    return out


def fill(client: redis.Redis, keys: Keys, count: int, end: float) -> tuple[Fingerprint, int, int]:
    """`count` synthetic articles evenly over the window before `end`, written as the assign
    script would write them but batched per hash (the script one by one would take ~10 min).
    Returns the last article's fingerprint, story number and story size, to check the layout."""
    rng, start = random.Random(7), end - CONFIG.window
    recent: list[tuple[Fingerprint, int]] = []
    counts: dict[int, int] = {}
    batch: dict[str, dict[bytes | str, int]] = {}
    for i in range(count):
        now = start + CONFIG.window * i / count
        fp, story = synthetic(rng, recent, len(counts) + 1)
        counts[story] = counts.get(story, 0) + 1
        for key, field, value in entries_of(f"fill-{i}", fp, story, counts[story], now, keys):
            batch.setdefault(key, {})[field] = value
        if len(batch) > 50_000 or i == count - 1:
            write(client, batch, slot_ttl_ms(now, CONFIG))
            batch = {}
    client.set(keys.story_sequence, len(counts))
    return fp, story, counts[story]


def write(client: redis.Redis, batch: dict[str, dict[bytes | str, int]], ttl_ms: int) -> None:
    pipe = client.pipeline(transaction=False)
    for key, mapping in batch.items():
        pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        pipe.pexpire(key, ttl_ms)
    pipe.execute()


def index_figures(url: str | None, count: int) -> dict[str, float]:
    with bench_redis(url) as target:
        client = redis.Redis.from_url(target.url, decode_responses=True)
        try:
            return index_figures_on(client, Keys(target.prefix), count)
        finally:
            target.clear(client)
            client.close()


def index_figures_on(client: redis.Redis, keys: Keys, count: int) -> dict[str, float]:
    end = time.time()
    before = int(client.info("memory")["used_memory"])
    started = time.perf_counter()
    last, story, size = fill(client, keys, count, end)
    fill_s = time.perf_counter() - started
    used = int(client.info("memory")["used_memory"]) - before
    # The real script must see the filled layout: a copy of the last article joins its story.
    joined = StoryIndex(client, keys, CONFIG).assign_fingerprint("check", last, end)
    assert joined == StoryAssignment(story_id(story), size + 1, False), joined
    encodings = {
        str(client.object("encoding", k))
        for k in itertools.islice(client.scan_iter(match=f"{{{keys.prefix}:*"), 500)
    }
    latencies = assign_latencies(client, keys, end)
    return {
        "articles_indexed": count,
        "fill_s": round(fill_s, 1),
        "bytes_per_article": round(used / count, 1),
        "assign_ms_p50": round(percentile(latencies, 0.5), 3),
        "assign_ms_p99": round(percentile(latencies, 0.99), 3),
        "hash_encodings": ",".join(sorted(encodings)),  # type: ignore[dict-item]
    }


def assign_latencies(client: redis.Redis, keys: Keys, now: float) -> list[float]:
    """Single lookup-and-insert round trips (fingerprints precomputed) on the filled index."""
    index, rng = StoryIndex(client, keys, CONFIG), random.Random(11)
    recent: list[tuple[Fingerprint, int]] = []
    prints = [synthetic(rng, recent, 0)[0] for _ in range(3000)]
    index.assign_fingerprint("warm-up", prints[0], now)
    times = []
    for i, fp in enumerate(prints):
        start = time.perf_counter()
        index.assign_fingerprint(f"probe-{i}", fp, now)
        times.append((time.perf_counter() - start) * 1000)
    return times


def report(rows: dict[str, dict[str, float]], figures: dict[str, float]) -> None:
    print(f"same story = at least {CONFIG.min_agreeing_bins} of {BINS} MinHash bins agree")
    print(f"baseline: SimHash-64, Hamming <= {SIMHASH_K}")
    print(f"{'kind':<34}{'pairs':>8}{'MinHash':>10}{'SimHash':>10}")
    for name, row in rows.items():
        n = row.get("positives", row.get("negatives", 1.0))
        label = "recall" if "positives" in row else "false +"
        ours, base = row["minhash_hits"], row["simhash_hits"]
        if label == "recall":
            ours, base = round(ours / n, 3), round(base / n, 3)
        print(f"{name + ' (' + label + ')':<34}{n!s:>8}{ours!s:>10}{base!s:>10}")
    for key in sorted(figures):
        if "[" not in key:
            print(f"{key:<34}{figures[key]!s:>12}")
    print(json.dumps(figures, sort_keys=True))


def main() -> None:
    global CONFIG  # noqa: PLW0603 - the settings under test, for every step of this run
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--redis", help="a Redis URL (default: an embedded server of its own)")
    parser.add_argument("--slots-per-window", type=int, default=CONFIG.slots_per_window)
    parser.add_argument("--index-buckets", type=int, default=CONFIG.index_buckets)
    parser.add_argument("--skip-quality", action="store_true")
    options = parser.parse_args()
    CONFIG = DedupeConfig(
        slots_per_window=options.slots_per_window, index_buckets=options.index_buckets
    )
    bodies = load_bodies()
    rows: dict[str, dict[str, float]] = {}
    figures: dict[str, float] = {"slots_per_window": CONFIG.slots_per_window}
    figures["index_buckets"] = CONFIG.index_buckets
    if not options.skip_quality:
        rows = quality(bodies)
        figures |= precision_recall(rows, "minhash") | precision_recall(rows, "simhash")
        figures |= speed_vs_extraction()
    figures |= index_figures(options.redis, options.articles)
    report(rows, figures)


if __name__ == "__main__":
    main()
