"""Archive benchmark: what archiving costs per article, back-test and search over a large
archive on SQLite and PostgreSQL, and the spike detector on synthetic series.

1. Cost: CPU per article of archiving (the worker's hand-over: record, JSON, XADD to an embedded
   Redis; the archiver's read, parse, insert into SQLite in batches, ack) against extraction
   (`extract_article`) of the same 181 corpus pages in the same run (goal: at most 5 %), and
   bytes on disk per article (SQLite file after a checkpoint; PostgreSQL table + indexes).
2. Scale: N archived articles (default 100,000) built by varying the corpus' 181 real bodies
   (each keeps a random two thirds of its sentences, shuffled, plus two sentences of another
   article), spread over 30 days; then `backtest` of a three-term query and of a NEAR over
   common words, and `search` (newest 20, as the CLI), each repeated, p50 reported (goals: 2 s, 10 s,
   200 ms). Baseline in the same run: the same three-term back-test without the full-text
   prefilter (every article in the window read and matched), once.
3. Spikes: `judge` on steady Poisson series (per-hour rates 2, 5, 10, 20): 3x and 5x bursts
   lasting one bucket (the burst's stories spread over it, judged at its end) found in their
   own bucket, beside the best any test can do at the same false-alarm probability knowing the
   rate; and false alarms over four weeks of steady traffic after a week of warm-up.

Usage: .venv/bin/python bench/archive.py [--articles N] [--no-postgres] [--repeat R]
       [--trials T] [--watchlists W] [--budget B | --sensitivity S] [--bucket-hours H]
       [--only-spikes]
PostgreSQL: $WIREWATCH_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test); the
bench works in a schema of its own and drops it. Redis: an embedded one it starts and stops.
Prints tables, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from worker.archive.archiver import Archiver
from worker.archive.intake import ArchiveSink, archived
from worker.archive.postgres import PostgresArchive
from worker.archive.record import ArchivedArticle
from worker.archive.search import backtest, search
from worker.archive.spikes import judge, poisson_upper_tail
from worker.archive.sqlite import SqliteArchive
from worker.archive.store import ArchiveStore
from worker.config.archive import SpikeConfig
from worker.extraction import extract_article
from worker.pipeline.process import ProcessResult
from worker.queue.connection import open_client
from worker.queue.embedded import EmbeddedRedis
from worker.queue.keys import ARCHIVE_GROUP, Keys
from worker.queue.streams import StreamConsumer
from worker.records import Article, FeedItem

CORPUS = Path(
    os.environ.get("WIREWATCH_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
POSTGRES = os.environ.get("WIREWATCH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
THREE_TERMS = "police AND city AND officials"
NEAR_COMMON = "people NEAR/5 time"
SEARCH = "google OR apple"
DAY = 86400.0


def load_pages() -> list[tuple[str, bytes, str]]:
    root = CORPUS / "articles"
    truth = json.loads((root / "ground-truth.json").read_text())
    return [
        (
            f["url"],
            gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes()),
            f["articleBody"],
        )
        for sha, f in sorted(truth.items())
    ]


def cpu(func: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    result = func()
    return result, (time.process_time() - start) * 1000


# -- 1. cost per article ----------------------------------------------------------------------
def cost(pages: list[tuple[str, bytes, str]], workdir: Path, use_postgres: bool) -> dict[str, Any]:
    extracted, extract_ms = cpu(lambda: [extract_article(html, url) for url, html, _ in pages])
    items = []
    for n, ((url, _, _), page) in enumerate(zip(pages, extracted, strict=True)):
        item = FeedItem("https://feed.example/rss", "Feed", f"e{n}", url, page.title)
        article = Article(
            url,
            page.canonical_url,
            page.title,
            page.text,
            author=page.author,
            published_at=page.published_at,
            language=page.language,
            site=page.site,
            feed_url=item.feed_url,
            feed_name="Feed",
            feed_tags=["world"],
        )
        items.append((item, ProcessResult("no_match", 0, article, None, 0, ())))
    with EmbeddedRedis(workdir / "redis") as redis_server:
        client = open_client(redis_server.url)
        keys = Keys("bench" + uuid.uuid4().hex[:6])
        sink = ArchiveSink(client, keys, 100_000)
        _, put_ms = cpu(lambda: [sink.put(item, result) for item, result in items])
        store = SqliteArchive(workdir / "cost.sqlite3")
        consumer = StreamConsumer(
            client, keys.archive_stream, ARCHIVE_GROUP, "bench", keys.archive_dead
        )
        archiver = Archiver(consumer, store, 30 * DAY, 3600.0, 256, structlog.get_logger())
        structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
        _, store_ms = cpu(archiver.run_until_drained)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sqlite_bytes = store.size_bytes() / store.count()
        store.close()
        client.close()
    n = len(pages)
    figures = {
        "pages": n,
        "extract_cpu_ms_per_article": round(extract_ms / n, 2),
        "archive_put_cpu_ms_per_article": round(put_ms / n, 3),
        "archive_store_cpu_ms_per_article": round(store_ms / n, 3),
        "archive_cpu_ms_per_article": round((put_ms + store_ms) / n, 3),
        "archive_vs_extraction_pct": round(100 * (put_ms + store_ms) / extract_ms, 2),
        "sqlite_bytes_per_article": round(sqlite_bytes),
        "text_bytes_per_article": round(sum(len(p.text.encode()) for p in extracted) / n),
    }
    if use_postgres:
        pg = PostgresArchive(POSTGRES, schema="bench_" + uuid.uuid4().hex[:8])
        try:
            now = time.time()
            records = [r for item, res in items if (r := archived(item, res, now)) is not None]
            _, pg_ms = cpu(lambda: pg.add(records))
            figures["postgres_bytes_per_article"] = round(pg.size_bytes() / pg.count())
            figures["postgres_store_cpu_ms_per_article"] = round(pg_ms / n, 3)
        finally:
            pg.drop()
            pg.close()
    return figures


# -- 2. scale -------------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()]


def varied_articles(
    bodies: list[str], count: int, now: float, seed: int = 11
) -> list[ArchivedArticle]:
    rnd = random.Random(seed)
    split = [sentences(body) or [body] for body in bodies]
    records = []
    for n in range(count):
        base = split[n % len(split)]
        kept = rnd.sample(base, max(1, (2 * len(base)) // 3))
        other = split[rnd.randrange(len(split))]
        kept += rnd.sample(other, min(2, len(other)))
        rnd.shuffle(kept)
        at = now - 30 * DAY * (1 - (n + 0.5) / count)
        records.append(
            ArchivedArticle(
                article_id=f"v{n}",
                processed_at=at,
                url=f"https://v.example/{n}",
                canonical_url=f"https://v.example/{n}",
                title=kept[0][:100],
                text=". ".join(kept),
                story_id=f"st_{n // 3}",
                outcome="no_match",
                site="v.example",
                feed_name=f"feed{n % 40}",
                language="en",
            )
        )
    return records


def build(store: ArchiveStore, records: list[ArchivedArticle]) -> float:
    start = time.perf_counter()
    for at in range(0, len(records), 1000):
        store.add(records[at : at + 1000])
    return time.perf_counter() - start


def timed_runs(func: Callable[[], Any], repeat: int) -> tuple[Any, list[float], list[float]]:
    """The result, and the wall and CPU (this process) seconds of each run: the machine may be
    shared, so the CPU time says what the work costs when the wall time is inflated by others."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return result, walls, cpus


def scale(
    store: ArchiveStore, name: str, records: list[ArchivedArticle], repeat: int, baseline: bool
) -> dict[str, Any]:
    build_s = build(store, records)
    since = min(record.processed_at for record in records)  # the same window on each backend
    three, three_t, three_c = timed_runs(lambda: backtest(store, THREE_TERMS, since), repeat)
    near, near_t, near_c = timed_runs(
        lambda: backtest(store, NEAR_COMMON, since), max(1, repeat // 2)
    )
    found, search_t, search_c = timed_runs(
        lambda: search(store, SEARCH, time.time() - 7 * DAY), repeat * 2
    )
    figures = {
        f"{name}_articles": len(records),
        f"{name}_build_s": round(build_s, 1),
        f"{name}_bytes_per_article": round(store.size_bytes() / len(records)),
        f"{name}_three_term_p50_s": round(statistics.median(three_t), 3),
        f"{name}_three_term_cpu_p50_s": round(statistics.median(three_c), 3),
        f"{name}_three_term_examined": three.examined,
        f"{name}_three_term_articles": three.articles,
        f"{name}_near_p50_s": round(statistics.median(near_t), 3),
        f"{name}_near_cpu_p50_s": round(statistics.median(near_c), 3),
        f"{name}_near_examined": near.examined,
        f"{name}_near_articles": near.articles,
        f"{name}_search_p50_ms": round(1000 * statistics.median(search_t), 1),
        f"{name}_search_cpu_p50_ms": round(1000 * statistics.median(search_c), 1),
        f"{name}_search_examined": found.examined,
    }
    if baseline:
        from worker.archive import search as search_module

        compiled = search_module.CompiledQuery(THREE_TERMS)
        compiled.condition = None  # every article of the window read and matched
        start = time.perf_counter()
        tally = search_module._tally(compiled, store, since, 5)
        scan_s = time.perf_counter() - start
        assert tally.articles == three.articles, "the prefilter lost an article"
        figures[f"{name}_three_term_scan_s"] = round(scan_s, 2)
        figures[f"{name}_three_term_speedup"] = round(scan_s / statistics.median(three_t), 1)
    return figures


# -- 3. spikes ------------------------------------------------------------------------------
def poisson(rnd: random.Random, rate: float) -> int:
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rnd.random()
        if p < limit:
            return k
        k += 1


def series(rnd: random.Random, rate: float, hours: int, start: float) -> list[tuple[float, str]]:
    events = []
    for hour in range(hours):
        events += [
            (start + hour * 3600 + rnd.random() * 3600, f"s{hour}_{k}")
            for k in range(poisson(rnd, rate))
        ]
    return events


RATES = (2.0, 5.0, 10.0, 20.0)  # stories per hour


def spike_config(args: argparse.Namespace) -> SpikeConfig:
    return SpikeConfig(
        bucket=args.bucket_hours * 3600.0,
        false_alarms_per_week=args.budget,
        sensitivity=args.sensitivity,
    )


def best_possible(rate: float, factor: int, config: SpikeConfig) -> float:
    """The share of bursts any test at this false-alarm probability finds, knowing the rate:
    P(Poisson(factor x λ) >= k) for the least k with P(Poisson(λ) >= k) below it."""
    k = config.min_stories
    while poisson_upper_tail(k, rate) >= config.alarm_probability:
        k += 1
    return poisson_upper_tail(k, factor * rate)


def spikes(trials: int, watchlists: int, config: SpikeConfig) -> dict[str, Any]:
    """Bursts lasting one bucket (3x and 5x its usual stories) after three to four weeks of
    steady traffic, judged at the bucket's end; then false alarms over four weeks."""
    bucket_h = config.bucket / 3600.0
    start = 1_800_000_000.0 // (7 * DAY) * (7 * DAY)
    figures: dict[str, Any] = {"spike_bucket_hours": bucket_h}
    rnd = random.Random(5)
    for rate in RATES:
        for factor in (3, 5):
            found = 0
            for trial in range(trials):
                buckets = int((21 * 24 + rnd.randrange(168)) / bucket_h)
                events = series(rnd, rate, int(buckets * bucket_h), start)
                burst_at = start + buckets * config.bucket
                events += [
                    (burst_at + rnd.random() * config.bucket, f"b{trial}_{k}")
                    for k in range(poisson(rnd, factor * rate * bucket_h))
                ]
                verdict = judge(events, burst_at + config.bucket - 1, config)
                found += bool(verdict and verdict.spike)
            key = f"rate{int(rate)}_x{factor}"
            figures[f"spike_found_{key}"] = round(found / trials, 3)
            figures[f"spike_best_{key}"] = round(best_possible(rate * bucket_h, factor, config), 3)
    alarms = 0
    weeks = 4
    per_week = int(168 / bucket_h)
    for w in range(watchlists):
        rate = RATES[w % len(RATES)]
        events = series(rnd, rate, (1 + weeks) * 168, start)
        ordered = sorted(events)
        upto = 0
        for bucket in range(per_week, (1 + weeks) * per_week):
            end = start + (bucket + 1) * config.bucket
            while upto < len(ordered) and ordered[upto][0] < end:
                upto += 1
            verdict = judge(ordered[:upto], end - 1, config)
            alarms += bool(verdict and verdict.spike)
    figures["spike_watchlists"] = watchlists
    figures["spike_alarm_probability"] = config.alarm_probability
    figures["spike_false_alarms"] = alarms
    figures["spike_false_alarms_per_watchlist_week"] = round(alarms / (watchlists * weeks), 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--watchlists", type=int, default=40)
    parser.add_argument("--budget", type=float, default=SpikeConfig().false_alarms_per_week)
    parser.add_argument("--sensitivity", type=float, default=None, help="instead of --budget")
    parser.add_argument("--bucket-hours", type=float, default=1.0)
    parser.add_argument("--only-spikes", action="store_true", help="skip parts 1 and 2")
    args = parser.parse_args()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    figures: dict[str, Any] = {}
    if not args.only_spikes:
        figures |= cost_and_scale(args)
    figures |= spikes(args.trials, args.watchlists, spike_config(args))
    print_spikes(figures)
    print(json.dumps(figures, sort_keys=True))


def cost_and_scale(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        pages = load_pages()
        figures |= cost(pages, workdir, not args.no_postgres)
        print_cost(figures)
        records = varied_articles([body for _, _, body in pages], args.articles, time.time())
        sqlite = SqliteArchive(workdir / "scale.sqlite3")
        figures |= scale(sqlite, "sqlite", records, args.repeat, baseline=True)
        sqlite.close()
        if not args.no_postgres:
            pg = PostgresArchive(POSTGRES, schema="bench_" + uuid.uuid4().hex[:8])
            try:
                figures |= scale(pg, "postgres", records, args.repeat, baseline=False)
            finally:
                pg.drop()
                pg.close()
        print_scale(figures, not args.no_postgres)
    return figures


def print_cost(f: dict[str, Any]) -> None:
    print(f"cost per article over {f['pages']} corpus pages (CPU ms)")
    print(f"{'extraction (baseline)':<34}{f['extract_cpu_ms_per_article']:>10}")
    print(f"{'archive: worker hand-over':<34}{f['archive_put_cpu_ms_per_article']:>10}")
    print(f"{'archive: archiver store (SQLite)':<34}{f['archive_store_cpu_ms_per_article']:>10}")
    print(f"{'archive total / extraction':<34}{f['archive_vs_extraction_pct']:>9}%  (goal <= 5%)")
    print(
        f"bytes on disk per article: SQLite {f['sqlite_bytes_per_article']}, PostgreSQL "
        f"{f.get('postgres_bytes_per_article', '-')}; extracted text {f['text_bytes_per_article']}"
    )


def print_scale(f: dict[str, Any], postgres: bool) -> None:
    names = ["sqlite", "postgres"] if postgres else ["sqlite"]
    print(f"\n{f['sqlite_articles']} varied articles over 30 days")
    print(f"{'measure':<34}" + "".join(f"{n:>14}" for n in names) + "    goal")
    rows = [
        ("build (s)", "build_s", ""),
        ("bytes per article", "bytes_per_article", ""),
        (f"backtest {THREE_TERMS!r} p50 (s)", "three_term_p50_s", "2 s"),
        ("  CPU of this process p50 (s)", "three_term_cpu_p50_s", ""),
        ("  candidates examined", "three_term_examined", ""),
        ("  matching articles", "three_term_articles", ""),
        (f"backtest {NEAR_COMMON!r} p50 (s)", "near_p50_s", "10 s"),
        ("  CPU of this process p50 (s)", "near_cpu_p50_s", ""),
        ("  candidates examined", "near_examined", ""),
        ("  matching articles", "near_articles", ""),
        (f"search {SEARCH!r} 7d p50 (ms)", "search_p50_ms", "200 ms"),
        ("  CPU of this process p50 (ms)", "search_cpu_p50_ms", ""),
    ]
    for label, key, goal in rows:
        print(f"{label:<34}" + "".join(f"{f[f'{n}_{key}']!s:>14}" for n in names) + f"    {goal}")
    print(
        f"baseline (no prefilter, SQLite): three-term back-test {f['sqlite_three_term_scan_s']} s,"
        f" the index makes it {f['sqlite_three_term_speedup']}x faster"
    )


def print_spikes(f: dict[str, Any]) -> None:
    print(
        f"\nspike detector ({f['spike_bucket_hours']}h buckets, per-bucket false-alarm probability"
        f" {f['spike_alarm_probability']:.2g}): share of one-bucket bursts found in their bucket"
        " (best possible knowing the rate, same probability)"
    )
    print(f"{'stories/hour':<14}{'3x burst':>18}{'5x burst':>18}")
    for rate in (2, 5, 10, 20):
        cells = [
            f"{f[f'spike_found_rate{rate}_x{x}']} ({f[f'spike_best_rate{rate}_x{x}']})"
            for x in (3, 5)
        ]
        print(f"{rate:<14}{cells[0]:>18}{cells[1]:>18}")
    print(
        f"false alarms: {f['spike_false_alarms']} over {f['spike_watchlists']} watchlists x 4 weeks"
        f" = {f['spike_false_alarms_per_watchlist_week']} per watchlist-week (goal <= 0.1)"
    )


if __name__ == "__main__":
    main()
